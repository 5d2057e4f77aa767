"""Articles: the article search index's backlog (articles owed to the Tantivy index, written in
the articles' own transaction)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_articles_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="ArticleIndexBacklog",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("article_id", models.BigIntegerField(db_index=True)),
            ],
            options={
                "verbose_name": "article index backlog",
            },
        ),
    ]
