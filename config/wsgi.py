import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# What loading made (modules, settings, URL patterns) lives as long as the worker: move it out of the
# cyclic garbage collector's reach, so the full collections that requests trigger do not walk it again
# and again (they showed as 50-100 ms outliers on the big pages).
gc.collect()
gc.freeze()
