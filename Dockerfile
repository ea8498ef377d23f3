# The portal image: gunicorn for the web, the same image for Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY config ./config
COPY smartaccounts ./smartaccounts
COPY licensing ./licensing
COPY policy ./policy
COPY bench ./bench
RUN pip install .
COPY . .
RUN DEBUG=0 SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input \
    && useradd --create-home --uid 1000 portal && mkdir -p /app/var && chown -R portal /app/var
USER portal

EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
