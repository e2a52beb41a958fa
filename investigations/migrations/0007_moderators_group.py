"""The `Moderators` group: traveller photos and hotels (the rooms app), nothing of
investigations. Investigators keep their own group (0002); no one is in both by default."""

from django.db import migrations

ACTIONS = ("add", "change", "delete", "view")
# The rooms models as of rooms 0002 (model name, verbose name); a later rooms model
# gets its permissions added by its own migration, if moderators are to handle it.
ROOMS_MODELS = [
    ("chain", "chain"),
    ("hotel", "hotel"),
    ("submission", "submission"),
    ("roomimage", "room image"),
]


def create_group(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name="Moderators")
    # Permissions are normally created after migrate; create the rooms ones now (same keys).
    for model_name, verbose_name in ROOMS_MODELS:
        content_type, _ = ContentType.objects.get_or_create(app_label="rooms", model=model_name)
        for action in ACTIONS:
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type,
                codename=f"{action}_{model_name}",
                defaults={"name": f"Can {action} {verbose_name}"},
            )
            group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("investigations", "0006_audit_chain"),
        ("rooms", "0002_roomimage_thumbnail"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
