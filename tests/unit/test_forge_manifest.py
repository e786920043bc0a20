"""manifest.yml (Connect-on-Forge) agrees with atlassian-connect.json and with Forge's own schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from connect_app.connect.descriptor import load_descriptor

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "tests" / "fixtures" / "forge" / "manifest-schema.json"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def descriptor() -> dict[str, Any]:
    return load_descriptor("https://system-reality.example.com")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _forge_errors(manifest: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Validate as the Forge CLI does: the whole manifest against the schema, then each
    `jira:<module>` of connectModules against the schema of `connect-jira:<module>` (see
    tests/fixtures/forge/SOURCE.md), plus the CLI's connect-remote rules."""
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(manifest)
    ]
    module_schemas = schema["definitions"]["ModuleSchema"]["properties"]
    for name, modules in (manifest.get("connectModules") or {}).items():
        forge_name = f"connect-{name}"
        if not name.startswith("jira:") or forge_name not in module_schemas:
            errors.append(f"connectModules/{name}: not a Connect module Forge supports")
            continue
        sub = dict(module_schemas[forge_name], definitions=schema["definitions"])
        errors += [
            f"connectModules/{name}/{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft7Validator(sub).iter_errors(modules)
        ]
    connect = manifest.get("app", {}).get("connect", {})
    remotes = {remote.get("key") for remote in manifest.get("remotes", [])}
    if manifest.get("connectModules") and connect.get("remote") not in remotes:
        errors.append("app.connect.remote must name an entry of remotes")
    if len((manifest.get("connectModules") or {}).get("jira:lifecycle", [])) > 1:
        errors.append("only one jira:lifecycle entry is allowed")
    return errors


def test_manifest_is_valid_for_forge(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    assert _forge_errors(manifest, schema) == []


@pytest.mark.parametrize(
    "breakage",
    [
        lambda m: m["connectModules"]["jira:jiraIssueFields"][0].pop("description"),
        lambda m: m["connectModules"]["jira:webPanels"][0].pop("location"),
        lambda m: m["connectModules"].__setitem__("jira:notAModule", [{"key": "x"}]),
        lambda m: m["app"]["connect"].__setitem__("remote", "elsewhere"),
        lambda m: m["app"].__setitem__("id", "my-app"),
        lambda m: m["connectModules"]["jira:lifecycle"].append({"key": "second"}),
        lambda m: m.__setitem__("extra", True),
    ],
)
def test_the_validation_catches_a_broken_manifest(manifest: dict[str, Any], schema: dict[str, Any], breakage) -> None:
    broken = copy.deepcopy(manifest)
    breakage(broken)
    assert _forge_errors(broken, schema) != []


def test_same_app_key_remote_and_scopes(manifest: dict[str, Any], descriptor: dict[str, Any]) -> None:
    assert manifest["app"]["connect"]["key"] == descriptor["key"] == "system-reality-for-jira"
    assert manifest["app"]["connect"]["remote"] == "connect"
    (remote,) = [r for r in manifest["remotes"] if r["key"] == "connect"]
    assert remote["baseUrl"].startswith("https://")
    assert manifest["permissions"]["scopes"] == ["read:connect-jira", "write:connect-jira"]
    # Connect READ/WRITE map onto Forge's read:connect-jira/write:connect-jira and nothing more.
    assert descriptor["scopes"] == ["READ", "WRITE"]
    assert manifest["app"]["id"].startswith("ari:cloud:ecosystem::app/")


def test_lifecycle_matches_the_descriptor(manifest: dict[str, Any], descriptor: dict[str, Any]) -> None:
    (lifecycle,) = manifest["connectModules"]["jira:lifecycle"]
    assert {k: v for k, v in lifecycle.items() if k != "key"} == descriptor["lifecycle"]


def test_every_descriptor_module_is_mirrored(manifest: dict[str, Any], descriptor: dict[str, Any]) -> None:
    connect_modules = manifest["connectModules"]
    for module_type, modules in descriptor["modules"].items():
        forge_name = f"jira:{module_type}"
        assert forge_name in connect_modules, f"{forge_name} missing from manifest.yml"
        expected = modules if isinstance(modules, list) else [modules]
        # The module definitions are the same documents, key, URLs and all.
        assert connect_modules[forge_name] == expected, forge_name


def test_manifest_has_no_module_the_descriptor_lacks(manifest: dict[str, Any], descriptor: dict[str, Any]) -> None:
    extra = {name.removeprefix("jira:") for name in manifest["connectModules"]} - set(descriptor["modules"])
    assert extra == {"lifecycle"}
