from django.conf import settings


def accounts(request):
    """Whether the login page offers a password reset (only with e-mail configured)."""
    return {"password_reset_enabled": bool(settings.EMAIL_HOST)}
