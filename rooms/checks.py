"""System checks of the rooms app's settings (`manage.py check`, start-up)."""

from django.core.checks import Error, register


@register()
def blocklist_readable(app_configs, **kwargs):
    from rooms.screening import check_blocklist_file

    problem = check_blocklist_file()
    if problem is None:
        return []
    return [Error(problem, hint="Fix or unset UPLOAD_BLOCKLIST_FILE.", id="rooms.E001")]
