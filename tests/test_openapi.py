"""The OpenAPI document describes every API route, and its docs page needs no internet."""

import re


def api_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and not rule.rule.endswith("openapi.json"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                yield path, method.lower()


def test_every_api_route_is_in_the_openapi_document(app, anon):
    doc = anon.get("/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    routes = list(api_rules(app))
    assert len(routes) >= 15
    missing = [(p, m) for p, m in routes if m not in doc["paths"].get(p, {})]
    assert missing == []


def test_protected_operations_declare_the_bearer_scheme_and_401(app, anon):
    doc = anon.get("/openapi.json").json
    open_ops = {("/api/v1/auth/register", "post"), ("/api/v1/auth/login", "post")}
    for path, method in api_rules(app):
        if (path, method) in open_ops:
            continue
        operation = doc["paths"][path][method]
        assert {"bearerAuth": []} in operation.get("security", []), (path, method)
        assert "401" in operation["responses"], (path, method)


def test_api_docs_are_served_without_any_other_site(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls, "the docs page loads its assets"
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), url
        assert client.get(url).status_code == 200, url
    assert "<script>" not in page.text  # no inline script
