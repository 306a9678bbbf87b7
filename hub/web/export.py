"""`?format=json|csv|xlsx` on list and report endpoints: the same rows as a file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field
from starlette.responses import Response

from hub.adapters import tabular
from hub.adapters.tabular import Cell, TableFormat
from hub.web.schemas.common import Query

ExportFormatName = Literal["json", "csv", "xlsx"]


class ExportQuery(Query):
    format: ExportFormatName = Field(
        default="json", description="`csv` or `xlsx` download the same rows as a file"
    )

    @property
    def table_format(self) -> TableFormat | None:
        return None if self.format == "json" else TableFormat(self.format)


def table_response(
    fmt: TableFormat,
    name: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
) -> Response:
    """A download named `<name>-<UTC timestamp>.<ext>`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    body = tabular.encode(fmt, headers, rows, title=name)
    return Response(
        body,
        media_type=tabular.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.{fmt.value}"'},
    )
