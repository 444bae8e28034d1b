"""One DAG per registered writer (``property_<writer>``, task ``write``) for the property suite.

Inputs come from the run's ``conf`` (templates render to native objects). One retry, no delay: the
harness runs each try in its own process, as a worker would.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from tests.property.writers import WRITERS

for _writer in WRITERS.values():
    with DAG(
        _writer.dag_id,
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        render_template_as_native_obj=True,
        tags=["tests", "property"],
        default_args={"retries": 1, "retry_delay": timedelta(0)},
    ):
        _writer.build()
