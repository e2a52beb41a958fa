"""The audit trail becomes append-only and hash-chained.

New actions and a `detail` field; each entry stores the previous entry's hash and its
own; the chain head row serialises appends. Rows written before are hashed here, in id
order. On PostgreSQL a trigger refuses UPDATE and DELETE of audit rows (the one
update let through: an account deleted, `user_id` set to NULL, nothing else changed).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION investigations_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL
            AND (to_jsonb(NEW) - 'user_id') = (to_jsonb(OLD) - 'user_id') THEN
        RETURN NEW;  -- ON DELETE SET NULL of the user: the entry keeps `username`
    END IF;
    RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER investigations_auditentry_append_only
    BEFORE UPDATE OR DELETE ON investigations_auditentry
    FOR EACH ROW EXECUTE FUNCTION investigations_audit_append_only();
"""

DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS investigations_auditentry_append_only ON investigations_auditentry;
DROP FUNCTION IF EXISTS investigations_audit_append_only();
"""


def hash_existing_entries(apps, schema_editor):
    from investigations.audit import GENESIS, HEAD_ID, entry_hash

    AuditEntry = apps.get_model("investigations", "AuditEntry")
    AuditChainHead = apps.get_model("investigations", "AuditChainHead")
    previous, last_id, length = GENESIS, None, 0
    for entry in AuditEntry.objects.order_by("pk").iterator(chunk_size=2000):
        entry.prev_hash = previous
        entry.detail = entry.detail or {}
        entry.entry_hash = entry_hash(entry)
        AuditEntry.objects.filter(pk=entry.pk).update(
            prev_hash=entry.prev_hash, entry_hash=entry.entry_hash
        )
        previous, last_id, length = entry.entry_hash, entry.pk, length + 1
    AuditChainHead.objects.update_or_create(
        pk=HEAD_ID,
        defaults={"length": length, "last_id": last_id, "last_hash": previous if length else ""},
    )


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL, params=None)  # its % are PL/pgSQL's


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("investigations", "0005_cases"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("length", models.PositiveBigIntegerField(default=0)),
                ("last_id", models.PositiveBigIntegerField(blank=True, null=True)),
                ("last_hash", models.CharField(blank=True, max_length=64)),
            ],
        ),
        migrations.AlterModelOptions(
            name="auditentry",
            options={"ordering": ["-created_at", "-pk"], "verbose_name_plural": "audit entries"},
        ),
        migrations.AddField(
            model_name="auditentry",
            name="detail",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditentry",
            name="entry_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="username",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("search", "Search"),
                    ("search_view", "Search View"),
                    ("search_list", "Search List"),
                    ("query_image", "Query Image"),
                    ("export", "Export"),
                    ("export_csv", "Export Csv"),
                    ("export_json", "Export Json"),
                    ("revision", "Revision"),
                    ("revision_list", "Revision List"),
                    ("decision", "Decision"),
                    ("decision_list", "Decision List"),
                    ("compare", "Compare"),
                    ("explanation", "Explanation"),
                    ("report", "Report"),
                    ("case_create", "Case Create"),
                    ("case_view", "Case View"),
                    ("case_list", "Case List"),
                    ("case_update", "Case Update"),
                    ("case_attach", "Case Attach"),
                    ("legal_hold", "Legal Hold"),
                    ("legal_hold_release", "Legal Hold Release"),
                    ("suggest_mask", "Suggest Mask"),
                    ("login", "Login"),
                    ("login_failed", "Login Failed"),
                    ("lockout", "Lockout"),
                    ("otp_verified", "Otp Verified"),
                    ("otp_failed", "Otp Failed"),
                    ("token_created", "Token Created"),
                    ("token_used", "Token Used"),
                    ("token_revoked", "Token Revoked"),
                    ("denied", "Denied"),
                    ("not_found", "Not Found"),
                    ("throttled", "Throttled"),
                ],
                default="search",
                max_length=20,
            ),
        ),
        migrations.RunPython(hash_existing_entries, migrations.RunPython.noop),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
