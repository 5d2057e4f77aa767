"""`column__among=values`: `__in` for long lists, as one query parameter.

Django's `__in` prepares every value on its own and sends one parameter per value: for the
thousands of ids and keys a catalogue load looks up at once, building the query costs more
than running it. `__among` sends the whole list as one value — an array on PostgreSQL
(`column = ANY(%s)`), a JSON array on SQLite (`column IN (SELECT value FROM json_each(%s))`)
— and both databases still look each one up in the column's index. Values must already be
what the column holds (ints for ids and foreign keys, strings for text); None is skipped, as
`__in` does.
"""

from __future__ import annotations

import json

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


class Among(Lookup):
    lookup_name = "among"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [value for value in dict.fromkeys(self.rhs) if value is not None]

    def as_sql(self, compiler, connection):
        values = self.rhs
        if not values:
            raise EmptyResultSet
        # The column comes from the model; every value is a parameter.
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if connection.vendor == "sqlite":
            sql = f"{lhs} IN (SELECT value FROM json_each(%s))"  # noqa: S608
            return sql, [*lhs_params, json.dumps(values)]
        marks = ", ".join(["%s"] * len(values))
        return f"{lhs} IN ({marks})", [*lhs_params, *values]


def register() -> None:
    Field.register_lookup(Among)
    ForeignObject.register_lookup(Among)  # relations look only at their own lookups
