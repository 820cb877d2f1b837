"""DevOps: GitHub issue triage, build-test-deploy and incident context.

Planted workflows
-----------------
``devops_triage_issues``      list open issues → get each issue (map over the whole result)
``devops_deploy_service``     build → smoke tests → deploy; deploys fail about half the time,
                              so this chain is frequent but *unreliable*
``devops_incident_context``   incident → {metrics, error logs} (either order) → status page
"""

from __future__ import annotations

from typing import Any

from chainmine.miner.generate import pools
from chainmine.miner.generate.spec import (RATE_LIMIT, TIMEOUT, Domain, StepSpec, ToolSpec, WorkflowSpec, bound, const, inp,
                                 item, tool_table)
from chainmine.miner.generate.values import HEX, Hashed, choice_arg, int_arg, text_arg

_STATES = ("open", "closed", "all")


def _repo(value: Any) -> str:
    text_arg("repo", value, 100)
    if value.count("/") != 1:
        raise ValueError(f"repo must look like 'owner/name', got {value!r}")
    return value


def github_list_issues(repo: str, state: str) -> list[dict[str, Any]]:
    """Issues of a repository in ``state``, newest first.

    Examples
    --------
    >>> issues = github_list_issues("acme/payments-api", "open")
    >>> all(i["number"] >= 100 for i in issues)
    True
    """
    _repo(repo)
    choice_arg("state", state, _STATES)
    h = Hashed("issues", repo, state)
    return [{"number": h.between(100, 9999), "title": f"{h.pick(pools.ISSUE_WORDS)} {h.pick(pools.ISSUE_WORDS)}",
             "state": "open" if state == "all" else state, "labels": [h.pick(pools.LABELS)]}
            for _ in range(h.between(1, 4))]


def github_get_issue(repo: str, number: int) -> dict[str, Any]:
    """One issue with its body, labels and assignee.

    Examples
    --------
    >>> github_get_issue("acme/payments-api", 1234)["number"]
    1234
    """
    _repo(repo)
    int_arg("number", number, 1, 10**7)
    h = Hashed("issue", repo, number)
    return {"number": number, "repo": repo, "title": f"{h.pick(pools.ISSUE_WORDS)} in {h.pick(pools.SERVICES)}",
            "body": f"Steps to reproduce: {h.words(pools.ISSUE_WORDS, 4, 9)}", "state": "open",
            "labels": [h.pick(pools.LABELS)], "comments": h.between(0, 30), "assignee": h.pick(pools.OPERATORS + (None,))}


def build_service(service: str, version: str) -> dict[str, Any]:
    """Build a container image of ``service`` at ``version``.

    Examples
    --------
    >>> build_service("gateway", "1.4.2")["image"]
    'registry.acme.io/gateway:1.4.2'
    """
    text_arg("service", service, 60)
    text_arg("version", version, 30)
    h = Hashed("build", service, version)
    return {"build_id": f"bld-{h.code(10, HEX)}", "service": service, "version": version,
            "image": f"registry.acme.io/{service}:{version}", "status": "succeeded", "duration_s": h.between(40, 600)}


def run_integration_tests(build_id: str, suite: str) -> dict[str, Any]:
    """Run a test suite against a build.

    Examples
    --------
    >>> run_integration_tests("bld-0a1b2c3d4e", "smoke")["failed"]
    0
    """
    text_arg("build_id", build_id, 40)
    choice_arg("suite", suite, ("smoke", "full", "contract"))
    h = Hashed("tests", build_id, suite)
    return {"build_id": build_id, "suite": suite, "passed": h.between(20, 400), "failed": 0,
            "report_url": f"https://ci.acme.io/reports/{h.code(12, HEX)}"}


def deploy_service(image: str, environment: str) -> dict[str, Any]:
    """Roll an image out to an environment.

    Examples
    --------
    >>> deploy_service("registry.acme.io/gateway:1.4.2", "staging")["status"]
    'rolled_out'
    """
    text_arg("image", image, 200)
    choice_arg("environment", environment, ("dev", "staging", "production"))
    return {"deployment_id": f"dep-{Hashed('deploy', image, environment).code(10, HEX)}", "image": image,
            "environment": environment, "status": "rolled_out"}


def pagerduty_get_incident(incident_id: str) -> dict[str, Any]:
    """A PagerDuty incident with the affected service.

    Examples
    --------
    >>> pagerduty_get_incident("PD123456")["service"] in pools.SERVICES
    True
    """
    text_arg("incident_id", incident_id, 20)
    h = Hashed("incident", incident_id)
    return {"incident_id": incident_id, "service": h.pick(pools.SERVICES), "urgency": h.pick(("high", "low")),
            "status": "triggered", "title": f"{h.pick(pools.ISSUE_WORDS)} rate above threshold"}


def datadog_query_metrics(service: str, metric: str, window: str) -> dict[str, Any]:
    """A metric series for a service over a time window.

    Examples
    --------
    >>> len(datadog_query_metrics("gateway", "error_rate", "1h")["points"])
    6
    """
    text_arg("service", service, 60)
    text_arg("metric", metric, 60)
    choice_arg("window", window, ("15m", "1h", "24h"))
    h = Hashed("metrics", service, metric, window)
    points = [round(h.between(0, 5000) / 1000, 3) for _ in range(6)]
    return {"service": service, "metric": metric, "window": window, "points": points, "max": max(points)}


def logs_search(service: str, query: str, limit: int) -> list[dict[str, Any]]:
    """Recent log lines of a service matching ``query``.

    Examples
    --------
    >>> logs_search("gateway", "level:error", 20)[0]["service"]
    'gateway'
    """
    text_arg("service", service, 60)
    text_arg("query", query, 200)
    int_arg("limit", limit, 1, 1000)
    h = Hashed("logs", service, query)
    return [{"service": service, "level": "error", "message": f"{h.pick(pools.ISSUE_WORDS)} {h.pick(pools.ISSUE_WORDS)}"}
            for _ in range(min(limit, 3))]


def statuspage_update(incident_id: str, status: str) -> dict[str, Any]:
    """Publish an incident status on the public status page.

    Examples
    --------
    >>> statuspage_update("PD123456", "investigating")["status"]
    'investigating'
    """
    text_arg("incident_id", incident_id, 20)
    choice_arg("status", status, ("investigating", "identified", "monitoring", "resolved"))
    return {"incident_id": incident_id, "status": status, "page_id": f"sp-{Hashed('page', incident_id).code(8, HEX)}"}


def github_list_pull_requests(repo: str, state: str) -> list[dict[str, Any]]:
    """Pull requests of a repository.

    Examples
    --------
    >>> isinstance(github_list_pull_requests("acme/gateway", "open"), list)
    True
    """
    _repo(repo)
    choice_arg("state", state, _STATES)
    h = Hashed("prs", repo, state)
    return [{"number": h.between(100, 9999), "title": f"fix {h.pick(pools.ISSUE_WORDS)}", "draft": h.below(4) == 0}
            for _ in range(h.between(0, 3))]


def kubectl_get_pods(namespace: str) -> str:
    """Pod listing as text, the way ``kubectl get pods`` prints it.

    Examples
    --------
    >>> kubectl_get_pods("payments").splitlines()[0].split()[0]
    'NAME'
    """
    text_arg("namespace", namespace, 60)
    h = Hashed("pods", namespace)
    rows = [f"{namespace}-{h.code(5, HEX)}  1/1  {h.pick(('Running', 'Running', 'CrashLoopBackOff'))}  {h.between(0, 9)}"
            for _ in range(h.between(1, 4))]
    return "\n".join(["NAME  READY  STATUS  RESTARTS"] + rows)


def _service(r) -> str:
    return r.pick(pools.SERVICES)


TOOLS = tool_table(
    ToolSpec(github_list_issues, lambda r: {"repo": r.pick(pools.REPOS), "state": r.pick(_STATES)},
             median_ms=420, errors=(RATE_LIMIT,), weight=1),
    ToolSpec(github_get_issue, lambda r: {"repo": r.pick(pools.REPOS), "number": r.between(100, 9999)},
             median_ms=380, failure_rate=0.005, errors=(RATE_LIMIT, ("NotFoundError", "issue not found")), weight=1),
    ToolSpec(build_service, lambda r: {"service": _service(r), "version": r.pick(pools.VERSIONS)},
             median_ms=2400, spread=0.4, weight=0.5),
    ToolSpec(run_integration_tests, lambda r: {"build_id": f"bld-{r.between(10**9, 10**10):x}", "suite": "full"},
             median_ms=3500, spread=0.4, failure_rate=0.03, weight=0.5),
    ToolSpec(deploy_service, lambda r: {"image": f"registry.acme.io/{_service(r)}:{r.pick(pools.VERSIONS)}",
                                        "environment": r.pick(("dev", "staging"))},
             median_ms=2900, spread=0.5, failure_rate=0.45, weight=0.3,
             errors=(("DeploymentError", "rollout timed out waiting for healthy pods"),
                     ("DeploymentError", "image pull failed: manifest unknown"), TIMEOUT)),
    ToolSpec(pagerduty_get_incident, lambda r: {"incident_id": r.pick(pools.INCIDENT_IDS)}, median_ms=230, weight=0.8),
    ToolSpec(datadog_query_metrics, lambda r: {"service": _service(r),
                                               "metric": r.pick(("latency_p95", "cpu", "error_rate")),
                                               "window": r.pick(("15m", "1h", "24h"))},
             median_ms=650, cost=0.0004, weight=1),
    ToolSpec(logs_search, lambda r: {"service": _service(r), "query": r.pick(("timeout", "level:warn", "OOMKilled")),
                                     "limit": r.pick((10, 50, 100))}, median_ms=800, cost=0.0002, weight=1),
    ToolSpec(statuspage_update, lambda r: {"incident_id": r.pick(pools.INCIDENT_IDS), "status": "resolved"},
             median_ms=300, weight=0.4),
    ToolSpec(github_list_pull_requests, lambda r: {"repo": r.pick(pools.REPOS), "state": "open"},
             median_ms=400, errors=(RATE_LIMIT,), weight=3),
    ToolSpec(kubectl_get_pods, lambda r: {"namespace": _service(r)}, median_ms=700, failure_rate=0.05, weight=3),
)

WORKFLOWS = (
    WorkflowSpec("devops_triage_issues", "devops", (
        StepSpec("github_list_issues", {"repo": inp("repo", lambda r: r.pick(pools.REPOS)), "state": const("open")}),
        StepSpec("github_get_issue", {"repo": inp("repo", lambda r: r.pick(pools.REPOS)), "number": item("number")},
                 map_over=(0, "")),
    ), weight=3.0, description="List a repository's open issues and read each one."),
    WorkflowSpec("devops_deploy_service", "devops", (
        StepSpec("build_service", {"service": inp("service", _service),
                                   "version": inp("version", lambda r: r.pick(pools.VERSIONS))}),
        StepSpec("run_integration_tests", {"build_id": bound(0, "build_id"), "suite": const("smoke")}),
        StepSpec("deploy_service", {"image": bound(0, "image"), "environment": const("staging")}),
    ), weight=3.5, reliable=False, description="Build a service, smoke-test it and deploy it to staging."),
    WorkflowSpec("devops_incident_context", "devops", (
        StepSpec("pagerduty_get_incident", {"incident_id": inp("incident_id", lambda r: r.pick(pools.INCIDENT_IDS))}),
        StepSpec("datadog_query_metrics", {"service": bound(0, "service"), "metric": const("error_rate"),
                                           "window": const("1h")}, parallel_group=1),
        StepSpec("logs_search", {"service": bound(0, "service"), "query": const("level:error"), "limit": const(20)},
                 parallel_group=1),
        StepSpec("statuspage_update", {"incident_id": inp("incident_id", lambda r: r.pick(pools.INCIDENT_IDS)),
                                       "status": const("investigating")}),
    ), weight=2.0, description="Gather metrics and error logs for an incident, then post a status update."),
)

DOMAIN = Domain("devops", ("devops-agent", "ci-bot"), TOOLS, WORKFLOWS, weight=1.0)
