"""Writing many rows at once without the ORM's per-row work.

Django's `bulk_create` and `bulk_update` build a model object, an SQL fragment and a
prepared value per row and column; for the hundreds of thousands of rows a catalogue load
writes, that costs more than the database's own work. These take plain values, in the order
of the names given, as they would be set on the model (foreign keys as ids), and hand them to
the driver as one statement executed with many parameter sets. Values of plain columns go as
they are; JSON and dates are prepared by their field.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, models


def update_many(model: type[models.Model], names: list[str], objs: list) -> None:
    """`UPDATE … SET these columns WHERE id = …` for many rows, one statement executed with
    many parameter sets: far cheaper than Django's `bulk_update`, which builds a CASE
    expression per row and column."""
    if not objs:
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Names from the model, every value a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    adapters = [_adapter(f) for f in fields]
    rows = [
        [adapt(getattr(obj, f.attname)) for f, adapt in zip(fields, adapters, strict=True)]
        + [obj.pk]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


# Columns whose values go to the driver as Python holds them (text, numbers, ids, flags):
# asking the field to prepare each one costs more than the write.
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


def _same(value):
    return value


def _adapter(field: models.Field) -> Callable[[object], object]:
    """How a value of this field is handed to the database driver: unchanged for plain
    columns (and foreign keys to integer ids), else as the field prepares it for saving."""
    target = field.target_field if field.is_relation else field
    if isinstance(target, _PLAIN_FIELDS):
        return _same
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda value: (
            None if value is None else connection.ops.adapt_json_value(value, encoder)
        )
    return lambda value: field.get_db_prep_save(value, connection)


def insert_many(
    model: type[models.Model], names: list[str], rows: list[list], *, ignore_conflicts: bool = False
) -> None:
    """`INSERT INTO … (these columns) VALUES (…)` executed once with many parameter sets (the
    ORM's bulk_create builds a model object and an SQL fragment per row). Each row gives the
    fields' values in `names`' order, as they would be set on the model (foreign keys as
    ids); `ignore_conflicts` skips rows a unique constraint refuses."""
    if not rows:
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    # Names from the model, every value a parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks}){conflict}"  # noqa: S608
    adapters = [_adapter(f) for f in fields]
    if all(adapt is _same for adapt in adapters):
        prepared = rows  # plain columns only: the rows go as they are
    else:
        prepared = [[adapt(v) for adapt, v in zip(adapters, row, strict=True)] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


# Rows per multi-row INSERT … RETURNING: its parameters stay far below SQLite's limit.
_RETURNING_ROWS = 500


def insert_returning_ids(
    model: type[models.Model], names: list[str], rows: list[list]
) -> list[int]:
    """Insert the rows and return their new ids, in the rows' order: one multi-row
    `INSERT … RETURNING` per few hundred rows (as `bulk_create` does on both databases),
    without building a model object per row."""
    if not rows:
        return []
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    adapters = [_adapter(f) for f in fields]
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _RETURNING_ROWS):
            chunk = rows[start : start + _RETURNING_ROWS]
            values = ", ".join([one] * len(chunk))
            # Names from the model, every value a parameter.
            sql = (
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {values} "  # noqa: S608
                f"RETURNING {quote(meta.pk.column)}"
            )
            cursor.execute(
                sql, [adapt(v) for row in chunk for adapt, v in zip(adapters, row, strict=True)]
            )
            ids.extend(row[0] for row in cursor.fetchall())
    return ids
