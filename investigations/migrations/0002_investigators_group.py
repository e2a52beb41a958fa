"""The `investigators` group with the search permission, so admins can assign it at once."""

from django.db import migrations


def create_group(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    # Permissions are normally created after migrate; create this one now (same key).
    content_type, _ = ContentType.objects.get_or_create(app_label="investigations", model="search")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="search_hotels",
        defaults={"name": "Can search hotels with a query photo"},
    )
    group, _ = Group.objects.get_or_create(name="investigators")
    group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("investigations", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
