"""Self sign-up, e-mail confirmation and invitation links (the pages a person without a login meets)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views import View
from django.views.generic import FormView, TemplateView

from .. import services
from ..forms import InvitationSignUpForm, SetPasswordForm, SignUpForm
from ..models import Role, User
from ..ratelimits import PasswordResetThrottle, RateLimitedMixin, SignUpThrottle
from ..tokens import read_email_confirmation_token, read_invitation_token
from .base import apply_validation_error, error_text

BACKEND = "django.contrib.auth.backends.ModelBackend"
SIGNUP_EMAIL_KEY = "signup_email"


class SignUpView(RateLimitedMixin, FormView):
    """Ask for an e-mail address and a name; the confirmation link does the rest."""

    template_name = "registration/signup.html"
    form_class = SignUpForm
    throttle_classes = (SignUpThrottle,)
    throttled_what = "sign-up requests"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("home")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        try:
            services.sign_up(**form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
            return self.form_invalid(form)
        self.request.session[SIGNUP_EMAIL_KEY] = form.cleaned_data["email"].lower()
        return redirect("signup_sent")


class PasswordResetView(RateLimitedMixin, auth_views.PasswordResetView):
    """Django's password reset, limited per client address: each request may send an e-mail."""

    throttle_classes = (PasswordResetThrottle,)
    throttled_what = "password reset requests"


class SignUpSentView(TemplateView):
    template_name = "registration/signup_sent.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["email"] = self.request.session.get(SIGNUP_EMAIL_KEY, "")
        return context


class ConfirmEmailView(View):
    """The link from the confirmation e-mail: choose a password, and the address is confirmed."""

    template_name = "registration/signup_confirm.html"

    def _context(self, token):
        try:
            user = read_email_confirmation_token(token)
        except ValidationError as error:
            return {"link_error": error_text(error)}
        if self.request.user.is_authenticated and self.request.user.pk != user.pk:
            return {"other_login": True}
        return {"confirm_user": user}

    def get(self, request, confirmation_token):
        token = confirmation_token
        context = self._context(token)
        if "confirm_user" in context:
            context["form"] = SetPasswordForm(user=context["confirm_user"])
        return render(request, self.template_name, context)

    def post(self, request, confirmation_token):
        token = confirmation_token
        context = self._context(token)
        if "confirm_user" not in context:
            return render(request, self.template_name, context)
        form = SetPasswordForm(request.POST, user=context["confirm_user"])
        if form.is_valid():
            try:
                user = services.confirm_email(token=token, password=form.cleaned_data["new_password1"])
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                login(request, user, backend=BACKEND)
                request.session.pop(SIGNUP_EMAIL_KEY, None)
                messages.success(request, f"Your address {user.email} is confirmed. Welcome to Smart Accounts.")
                return redirect("home")
        context["form"] = form
        return render(request, self.template_name, context)


class InvitationView(View):
    """An invitation link. The page names the account only to the invited address (or to someone without a login).

    - signed in as the invited address: accept;
    - signed in as anyone else: told to log out, nothing about the account is shown;
    - not signed in, the address has a login: log in first (the link comes back here), then accept;
    - not signed in, no login yet (or one without a password): sign up here, which confirms the address
      and accepts.
    """

    template_name = "registration/invitation.html"

    def _invitation(self, token):
        try:
            return read_invitation_token(token), None
        except ValidationError as error:
            return None, error_text(error)

    def _context(self, request, token):
        invitation, link_error = self._invitation(token)
        if invitation is None:
            return {"link_error": link_error}
        user = request.user
        context = {"token": token}
        if user.is_authenticated:
            if user.email.lower() != invitation.email.lower():
                return {"other_login": True, "token": token}
            context.update(invitation=invitation, mode="accept")
        elif services.login_that_can_sign_in(invitation.email) is not None:
            context.update(invitation=invitation, mode="login", login_url=f"{reverse('login')}?next={request.path}")
        else:
            # No login, or one that never got a password (its sign-up was not confirmed): choose one here.
            completing = User.objects.filter(email__iexact=invitation.email).exists()
            context.update(invitation=invitation, mode="signup", completing=completing)
        context["role"] = Role(invitation.role)
        return context

    def get(self, request, invitation_token):
        token = invitation_token
        context = self._context(request, token)
        if context.get("mode") == "signup":
            context["form"] = InvitationSignUpForm(user=User(email=context["invitation"].email))
        return render(request, self.template_name, context)

    def post(self, request, invitation_token):
        token = invitation_token
        context = self._context(request, token)
        mode = context.get("mode")
        invitation = context.get("invitation")
        if mode == "accept":
            try:
                services.accept_invitation(invitation=invitation, user=request.user)
            except (ValidationError, PermissionDenied) as error:
                context.update(mode=None, link_error=" ".join(getattr(error, "messages", [str(error)])))
                return render(request, self.template_name, context)
            messages.success(request, f"Welcome to {invitation.smart_account.name}.")
            return redirect("account_home", account_id=invitation.smart_account_id)
        if mode == "signup":
            form = InvitationSignUpForm(request.POST, user=User(email=invitation.email))
            if form.is_valid():
                try:
                    user = services.sign_up_with_invitation(
                        invitation=invitation,
                        first_name=form.cleaned_data["first_name"],
                        last_name=form.cleaned_data["last_name"],
                        password=form.cleaned_data["new_password1"],
                    )
                except ValidationError as error:
                    apply_validation_error(form, error)
                else:
                    login(request, user, backend=BACKEND)
                    messages.success(request, f"Welcome to {invitation.smart_account.name}. Your login is ready.")
                    return redirect("account_home", account_id=invitation.smart_account_id)
            context["form"] = form
        return render(request, self.template_name, context)


class LogOutAndContinueView(View):
    """From an invitation or confirmation page reached while signed in as someone else: log out, open the link."""

    http_method_names = ["post"]

    def post(self, request):
        target = request.POST.get("next", "")
        logout(request)
        try:
            match = resolve(target)
        except Resolver404:
            match = None
        if match is not None and match.url_name in ("invitation_accept", "signup_confirm"):
            return redirect(target)
        return redirect("login")
