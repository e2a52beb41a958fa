"""Index a version's (id, image id) pairs, so listing them reads no vectors.

The in-process indexes (exact, graph) list every pair of the served version on each
full reconciliation. Rows carry their vectors (5 KB and more), so a scan read the
whole table (16 GB at a million photos, 3.1 s); this index serves it by an
index-only scan (165 MB, 0.7 s). It also covers every lookup by version alone, so
the single-column index on `model_version` goes, after the new one exists.
At a million photos the index builds in ~10 s to a few minutes (cold cache), with
writes to the table waiting meanwhile.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("matcher", "0005_inline_pgvector"),
        ("rooms", "0002_roomimage_thumbnail"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="embedding",
            index=models.Index(fields=["model_version", "id", "image"], name="embedding_rows"),
        ),
        migrations.AlterField(
            model_name="embedding",
            name="model_version",
            field=models.CharField(max_length=120),
        ),
    ]
