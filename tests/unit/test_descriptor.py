"""The served Connect descriptor: schema-valid, relative URLs, the property Jira indexes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from connect_app.connect.descriptor import APP_KEY, load_descriptor, module_urls

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "tests" / "fixtures" / "connect" / "jira-global-schema.ace-2019.json"
BASE_URL = "https://example.ngrok.app"


@pytest.fixture(scope="module")
def descriptor() -> dict:
    return load_descriptor(BASE_URL)


def _patched_schema() -> dict:
    """The 2019 schema with exactly the known outdated spots of tests/fixtures/connect/SOURCE.md fixed.

    1. `apiMigrations` gains `signed-install` and `context-qsh` (they postdate the schema);
    2. `jiraIssueFields.type` gains `read_only`.
    (`jiraIssueContexts` is absent from the schema and passes because modules allow extra
    properties; nothing is patched for it.) Nothing else is loosened.
    """
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    migrations = schema["properties"]["apiMigrations"]["properties"]
    assert "signed-install" not in migrations and "context-qsh" not in migrations, "schema changed; review"
    migrations["signed-install"] = {"type": "boolean"}
    migrations["context-qsh"] = {"type": "boolean"}
    field_type = schema["properties"]["modules"]["properties"]["jiraIssueFields"]["items"]["properties"]["type"]
    assert "read_only" not in field_type["enum"], "schema changed; review"
    field_type["enum"] = [*field_type["enum"], "read_only"]
    return schema


def test_served_descriptor_validates_against_the_patched_connect_schema(descriptor: dict) -> None:
    jsonschema.Draft4Validator(_patched_schema()).validate(descriptor)


def test_the_patches_are_needed_and_are_the_only_ones(descriptor: dict) -> None:
    # Against the unpatched schema the descriptor fails only on the documented outdated spots.
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(descriptor))
    spots = sorted("/".join(str(p) for p in error.absolute_path) for error in errors)
    assert spots == ["apiMigrations", "modules/jiraIssueFields/0/type"]


def test_a_broken_descriptor_is_caught_by_the_patched_schema(descriptor: dict) -> None:
    broken = copy.deepcopy(descriptor)
    broken["scopes"] = ["READ", "EVERYTHING"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(_patched_schema()).validate(broken)


def test_base_url_is_filled_in_without_a_trailing_slash(descriptor: dict) -> None:
    assert descriptor["baseUrl"] == BASE_URL
    assert load_descriptor(BASE_URL + "/")["baseUrl"] == BASE_URL
    assert "{{" not in json.dumps(load_descriptor("https://other.example"))
    assert descriptor["key"] == APP_KEY == "system-reality-for-jira"
    assert descriptor["name"] == "System Reality for Jira"


def test_authentication_migrations_and_scopes(descriptor: dict) -> None:
    assert descriptor["authentication"] == {"type": "jwt"}
    assert descriptor["apiVersion"] == 1
    assert descriptor["apiMigrations"] == {"signed-install": True, "context-qsh": True, "gdpr": True}
    assert descriptor["scopes"] == ["READ", "WRITE"]


def test_every_lifecycle_path_is_declared(descriptor: dict) -> None:
    assert descriptor["lifecycle"] == {
        "installed": "/lifecycle/installed",
        "uninstalled": "/lifecycle/uninstalled",
        "enabled": "/lifecycle/enabled",
        "disabled": "/lifecycle/disabled",
    }


def test_every_module_url_is_relative_to_the_base_url(descriptor: dict) -> None:
    urls = module_urls(descriptor)
    assert len(urls) >= 10
    for name, url in urls.items():
        assert url.startswith("/") and not url.startswith("//"), (name, url)
        assert "://" not in url, (name, url)


def test_panel_and_context_urls_carry_the_issue(descriptor: dict) -> None:
    urls = module_urls(descriptor)
    assert urls["webPanels:system-reality-panel"] == (
        "/panel/issue?issueKey={issue.key}&issueId={issue.id}&projectKey={project.key}"
    )
    assert urls["jiraIssueContexts:drift-context"] == "/panel/context?issueKey={issue.key}&issueId={issue.id}"
    assert urls["generalPages:drift-report"] == "/report"
    assert urls["adminPages:system-reality-admin"] == "/admin"
    assert urls["webhooks:issue-updated"] == "/jira/webhook/issue-updated"
    panel = descriptor["modules"]["webPanels"][0]
    assert panel["location"] == "atl.jira.view.issue.right.context"
    assert descriptor["modules"]["webhooks"][0]["event"] == "jira:issue_updated"


def test_admin_page_is_for_admins_only(descriptor: dict) -> None:
    admin = descriptor["modules"]["adminPages"][0]
    assert {"condition": "user_is_admin"} in admin["conditions"]
    assert {"condition": "user_is_admin"} in descriptor["modules"]["configurePage"]["conditions"]


def test_issue_property_is_indexed_for_jql(descriptor: dict) -> None:
    (entity,) = descriptor["modules"]["jiraEntityProperties"]
    assert entity["entityType"] == "issue"
    (config,) = entity["keyConfigurations"]
    assert config["propertyKey"] == "system-reality"
    by_alias = {e["alias"]: e for e in config["extractions"]}
    assert by_alias["drift"] == {"objectName": "drift", "type": "string", "alias": "drift"}
    assert by_alias["driftSince"] == {"objectName": "since", "type": "date", "alias": "driftSince"}
    assert by_alias["driftChanges"]["type"] == "number"
    assert by_alias["driftEnvironment"]["type"] == "string"


def test_drift_field_is_read_only_and_backed_by_the_property(descriptor: dict) -> None:
    (field,) = descriptor["modules"]["jiraIssueFields"]
    assert field["key"] == "drift-field"
    assert field["name"] == {"value": "Drift"}
    assert field["type"] == "read_only"
    assert field["property"] == {"key": "system-reality", "path": "drift", "type": "string"}


def test_issue_context_has_icon_label_and_web_panel_target(descriptor: dict) -> None:
    (context,) = descriptor["modules"]["jiraIssueContexts"]
    assert context["key"] == "drift-context"
    assert context["content"]["type"] == "label"
    assert context["target"]["type"] == "web_panel"
    assert context["icon"]["url"].startswith("/")
    assert "jiraIssueGlances" not in descriptor["modules"]  # glances are deprecated


def test_module_keys_are_unique_and_well_formed(descriptor: dict) -> None:
    keys = [key.split(":")[1] for key in module_urls(descriptor) if not key.startswith("lifecycle:")]
    keys = [k for k in dict.fromkeys(keys)]
    for key in keys:
        assert key and all(c.isalnum() or c == "-" for c in key), key
    all_keys = []
    for modules in descriptor["modules"].values():
        for module in modules if isinstance(modules, list) else [modules]:
            all_keys.append(module["key"])
    assert len(all_keys) == len(set(all_keys))


def test_packaged_copy_is_identical_to_the_top_level_descriptor() -> None:
    top = (ROOT / "atlassian-connect.json").read_bytes()
    packaged = (ROOT / "connect_app" / "atlassian-connect.json").read_bytes()
    assert top == packaged, "connect_app/atlassian-connect.json must be a copy of atlassian-connect.json"


def test_panel_and_context_show_only_where_code_is_linked(descriptor: dict) -> None:
    # Jira evaluates these: the issue has the app's property, or its project has one.
    wanted = [{"or": [
        {"condition": "entity_property_exists", "params": {"entity": "issue", "propertyKey": "system-reality"}},
        {"condition": "entity_property_exists", "params": {"entity": "project", "propertyKey": "system-reality"}},
    ]}]
    modules = descriptor["modules"]
    assert modules["webPanels"][0]["conditions"] == wanted
    assert modules["jiraIssueContexts"][0]["conditions"] == wanted


def test_deployment_and_feature_flag_providers_are_declared(descriptor: dict) -> None:
    """Jira Software's bulk APIs answer 403 to an app without these modules."""
    modules = descriptor["modules"]
    for name, key in (("jiraDeploymentInfoProvider", "system-reality-deployments"),
                      ("jiraFeatureFlagInfoProvider", "system-reality-flags")):
        provider = modules[name]
        assert provider["key"] == key
        assert provider["homeUrl"] == descriptor["baseUrl"]
        assert provider["logoUrl"].startswith(descriptor["baseUrl"] + "/static/")
    assert "WRITE" in descriptor["scopes"]


def test_epics_are_searchable_by_drifted_children(descriptor: dict) -> None:
    (config,) = descriptor["modules"]["jiraEntityProperties"][0]["keyConfigurations"]
    by_alias = {e["alias"]: e for e in config["extractions"]}
    assert by_alias["driftedChildren"] == {"objectName": "children", "type": "number", "alias": "driftedChildren"}
