"""Articles: every citation key of each article (so the same article from another file in
another format updates it), and one article per DOI whatever its case."""

import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models


def keys_of_stored_articles(apps, schema_editor):
    from kede.catalog.article_services import stored_data
    from kede.catalog.articles import citation_keys

    Article = apps.get_model("catalog", "Article")
    ArticleKey = apps.get_model("catalog", "ArticleKey")
    batch = []
    for row in Article.objects.order_by("id").iterator(chunk_size=2000):
        keys = {k[:500] for k in citation_keys(stored_data(row))} | {row.citation_key}
        batch.extend(ArticleKey(article_id=row.id, key=key) for key in sorted(keys))
        if len(batch) >= 5000:
            ArticleKey.objects.bulk_create(batch)
            batch = []
    ArticleKey.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_articles"),
    ]

    operations = [
        migrations.CreateModel(
            name="ArticleKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(db_index=True, max_length=500)),
                (
                    "article",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="keys",
                        to="catalog.article",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("article", "key"), name="uniq_article_key")
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="article",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("doi"),
                condition=models.Q(("doi", ""), _negated=True),
                name="uniq_article_doi",
            ),
        ),
        migrations.RunPython(keys_of_stored_articles, migrations.RunPython.noop),
    ]
