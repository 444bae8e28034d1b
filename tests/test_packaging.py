"""The package as a user gets it: built from the checkout, installed alone into a fresh virtualenv.

One module-scoped build (sdist, then the wheel *from the sdist*, so a file missing from the sdist
fails here) and one fresh virtualenv with nothing but the wheel and what it requires (Airflow).
The virtualenv does not see this test run's site-packages; ``uv`` installs into it from its cache,
pinned to the versions of this environment (``uv pip freeze``) so that the install is fast and
resolves the same Airflow the rest of the suite runs. What the tests then check:

* LICENSE and NOTICE are in the wheel and the sdist; the wheel's metadata declares the optional
  parts as extras (``sql``, ``redis``, ``emulator``, ``parquet``) and offers no developer tools;
* ``airflow providers list`` (a real Airflow CLI, on a fresh ``AIRFLOW_HOME``) shows the provider;
* without the optional parts (common-sql and uvicorn removed from the virtualenv), the operators
  import and the SQL source fails with an error naming the ``[sql]`` extra;
* the wheel holds no emulator code; the emulator's own distribution (``emulator/``) builds, and its
  pytest fixtures load through its ``pytest11`` entry point in a project with no conftest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "airflow_provider_activecampaign"


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is needed to build and install the package (dependency group 'test')")
    return found


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without this run's Airflow and Python settings (a user's fresh shell)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV", "UV_", "PYTEST", "AC_"))
    }
    env.update(extra)
    return env


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel built from it, from the files of this checkout."""
    out = tmp_path_factory.mktemp("dist")
    _run([_uv(), "build", "--quiet", "--out-dir", str(out), str(ROOT)], env=_clean_env())
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def fresh_venv(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding the wheel and its requirements only."""
    base = tmp_path_factory.mktemp("fresh")
    venv = base / "venv"
    uv = _uv()
    _run([uv, "venv", "--quiet", str(venv), "--python", sys._base_executable], env=_clean_env())  # type: ignore[attr-defined]
    frozen = _run([uv, "pip", "freeze", "--python", sys.executable], env=_clean_env()).stdout
    pins = [
        line
        for line in frozen.splitlines()
        if line
        and not line.startswith("-e")
        and not line.lower().startswith("airflow-provider-activecampaign")
    ]
    constraints = base / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
    python = str(venv / "bin" / "python")
    _run(
        [uv, "pip", "install", "--quiet", "--python", python, "-c", str(constraints), str(dist["wheel"])],
        env=_clean_env(),
    )
    return venv


def test_license_and_notice_are_in_the_wheel_and_the_sdist(dist: dict[str, Path]) -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text  # the full text, not a pointer to it
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        assert {f"{info}/licenses/LICENSE", f"{info}/licenses/NOTICE"} <= names
        assert wheel.read(f"{info}/licenses/LICENSE").decode() == license_text
    with tarfile.open(dist["sdist"]) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        members = set(sdist.getnames())
    assert {f"{top}/LICENSE", f"{top}/NOTICE", f"{top}/pyproject.toml", f"{top}/mkdocs.yml"} <= members


def test_the_wheel_declares_optional_parts_as_extras_and_no_developer_tools(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(wheel.read(name).decode())
    assert metadata["License-Expression"] == "Apache-2.0"
    assert set(metadata.get_all("Provides-Extra") or []) == {"sql", "redis", "emulator", "parquet"}
    requires = metadata.get_all("Requires-Dist") or []
    unconditional = {
        r.split(";")[0].split(">")[0].split("=")[0].strip().lower() for r in requires if ";" not in r
    }
    assert "apache-airflow" in unconditional
    for optional in (
        "apache-airflow-providers-common-sql",
        "starlette",
        "uvicorn",
        "redis",
        "pyarrow",
        "pytest",
    ):
        assert optional not in unconditional, f"{optional} must be optional"
    # No URL in the metadata points at a repository that has not been published.
    assert not any("github.com" in (url or "") for url in metadata.get_all("Project-URL") or [])


def test_the_wheel_alone_is_a_working_airflow_provider(fresh_venv: Path, tmp_path: Path) -> None:
    python = fresh_venv / "bin" / "python"
    env = _clean_env(AIRFLOW_HOME=str(tmp_path / "airflow-home"), PATH=f"{fresh_venv / 'bin'}:/usr/bin:/bin")
    # Alone: the virtualenv sees neither this checkout nor this run's site-packages.
    where = _run(
        [
            str(python),
            "-c",
            "import airflow_provider_activecampaign as p, sys; print(p.__file__); print(sys.path)",
        ],
        env=env,
        cwd=tmp_path,
    ).stdout
    assert str(fresh_venv) in where.splitlines()[0]
    assert str(ROOT) not in where
    assert str(Path(sys.executable).parent.parent) not in where

    providers = _run(
        [str(fresh_venv / "bin" / "airflow"), "providers", "list", "-o", "json"], env=env, cwd=tmp_path
    )
    listed = {
        entry["package_name"]: entry for entry in json.loads(providers.stdout[providers.stdout.index("[") :])
    }
    assert "airflow-provider-activecampaign" in listed, sorted(listed)

    # Now take the optional parts away (Airflow itself installs common-sql and uvicorn).
    _run(
        [
            _uv(),
            "pip",
            "uninstall",
            "--quiet",
            "--python",
            str(python),
            "apache-airflow-providers-common-sql",
            "uvicorn",
        ],
        env=_clean_env(),
    )
    check = tmp_path / "check_without_extras.py"
    check.write_text(
        """
import importlib.util
for missing in ("airflow.providers.common.sql", "uvicorn", "redis"):
    try:
        found = importlib.util.find_spec(missing) is not None
    except ModuleNotFoundError:
        found = False
    assert not found, missing
import airflow_provider_activecampaign.operators.contacts as contacts
import airflow_provider_activecampaign.operators.campaigns
import airflow_provider_activecampaign.sensors.contacts
print("operators:", contacts.ActiveCampaignSyncContactsOperator.__name__)
from airflow.sdk.exceptions import AirflowOptionalProviderFeatureException
from airflow_provider_activecampaign.contacts.sources import SqlSource
try:
    SqlSource("warehouse", "SELECT email FROM customers")
except AirflowOptionalProviderFeatureException as error:
    print("sql:", error)
else:
    raise SystemExit("the SQL source ran without common-sql")
""",
        encoding="utf-8",
    )
    out = _run([str(python), str(check)], env=env, cwd=tmp_path).stdout
    assert "operators: ActiveCampaignSyncContactsOperator" in out
    assert "sql: " in out
    assert "pip install 'airflow-provider-activecampaign[sql]'" in out

    # The emulator is its own distribution: not in this wheel, so not importable here.
    emulator = subprocess.run(
        [str(python), "-c", "import activecampaign_emulator"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert emulator.returncode != 0
    assert "No module named 'activecampaign_emulator'" in emulator.stderr


def test_the_provider_wheel_holds_no_emulator_code(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = wheel.namelist()
    code = [n for n in names if n.endswith((".py", ".json"))]
    assert any(n.startswith(f"{DIST_NAME}/operators/") for n in code)
    assert [n for n in code if "emulator" in n.lower()] == []


def test_the_emulator_distribution_builds_and_its_fixtures_load_through_the_entry_point(
    fresh_venv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "emulator-dist"
    _run([_uv(), "build", "--quiet", "--out-dir", str(out), str(ROOT / "emulator")], env=_clean_env())
    [wheel] = out.glob("activecampaign_emulator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert "activecampaign_emulator/default_seed.json" in names
    assert "[pytest11]" in entry_points
    assert "activecampaign_emulator = activecampaign_emulator.pytest_plugin" in entry_points
    assert not any(n.startswith(f"{DIST_NAME}/") for n in names)

    python = str(fresh_venv / "bin" / "python")
    frozen = _run([_uv(), "pip", "freeze", "--python", sys.executable], env=_clean_env()).stdout
    pins = [line for line in frozen.splitlines() if line and not line.startswith("-e")]
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
    _run(
        [
            _uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            "-c",
            str(constraints),
            str(wheel),
            "pytest",
        ],
        env=_clean_env(),
    )
    # No conftest, no pytest_plugins line: the fixture comes from the installed entry point.
    (tmp_path / "test_uses_the_fixture.py").write_text(
        """
import os
import urllib.request


def test_the_emulator_fixture_serves(emulator):
    assert os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"]
    url = emulator.url + "/api/3/users/me"
    request = urllib.request.Request(url, headers={"Api-Token": emulator.api_key})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
""",
        encoding="utf-8",
    )
    result = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_uses_the_fixture.py")],
        capture_output=True,
        text=True,
        env=_clean_env(PATH=f"{fresh_venv / 'bin'}:/usr/bin:/bin"),
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
