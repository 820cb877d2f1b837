"""Research assistant: literature search, web reading and dataset profiling.

Planted workflows
-----------------
``research_paper_digest``     search papers → details of each paper (map, ``item.paper_id``)
``research_web_summary``      web search → fetch the top hit → summarise its text
``research_dataset_profile``  load a dataset → describe its columns → histogram of the first column
"""

from __future__ import annotations

from typing import Any

from chainmine.miner.generate import pools
from chainmine.miner.generate.spec import TIMEOUT, Domain, StepSpec, ToolSpec, WorkflowSpec, bound, const, inp, item, tool_table
from chainmine.miner.generate.values import DIGITS, HEX, Hashed, int_arg, text_arg


def search_papers(query: str, limit: int) -> list[dict[str, Any]]:
    """Papers matching ``query``, most relevant first.

    Examples
    --------
    >>> 1 <= len(search_papers("diffusion models", 5)) <= 5
    True
    """
    text_arg("query", query, 300)
    int_arg("limit", limit, 1, 100)
    h = Hashed("papers", query)
    return [{"paper_id": f"{h.between(20, 25)}{h.between(1, 12):02d}.{h.code(5, DIGITS)}",
             "title": f"{h.words(pools.WORDS, 2, 4)} {query}".capitalize(), "year": h.between(2019, 2026),
             "citations": h.between(0, 900)} for _ in range(min(limit, h.between(2, 5)))]


def get_paper_details(paper_id: str) -> dict[str, Any]:
    """Authors, abstract and PDF link of one paper.

    Examples
    --------
    >>> get_paper_details("2401.01234")["pdf_url"]
    'https://arxiv.org/pdf/2401.01234'
    """
    text_arg("paper_id", paper_id, 40)
    h = Hashed("paper", paper_id)
    authors = [f"{h.pick(pools.FIRST).capitalize()} {h.pick(pools.LAST).capitalize()}" for _ in range(h.between(1, 4))]
    return {"paper_id": paper_id, "title": h.words(pools.WORDS, 3, 6).capitalize(), "authors": authors,
            "abstract": f"We study {h.pick(pools.TOPICS)}. {h.words(pools.WORDS, 8, 16).capitalize()}.",
            "year": h.between(2019, 2026), "pdf_url": f"https://arxiv.org/pdf/{paper_id}"}


def web_search(query: str, num_results: int) -> list[dict[str, Any]]:
    """Web results for ``query``.

    Examples
    --------
    >>> web_search("causal inference", 5)[0]["url"].startswith("https://")
    True
    """
    text_arg("query", query, 300)
    int_arg("num_results", num_results, 1, 50)
    h = Hashed("web", query)
    site = ("en.wikipedia.org/wiki", "medium.com/@ml", "towardsdatascience.com", "github.com/topics", "blog.research.io")
    return [{"url": f"https://{h.pick(site)}/{query.replace(' ', '-')}-{h.code(4, HEX)}",
             "title": f"{query.title()}: {h.words(pools.WORDS, 2, 4)}", "snippet": h.words(pools.WORDS, 6, 12)}
            for _ in range(min(num_results, h.between(3, 5)))]


def fetch_url(url: str) -> dict[str, Any]:
    """The text content of a web page.

    Examples
    --------
    >>> fetch_url("https://example.org/a")["status"]
    200
    """
    text_arg("url", url, 2000)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r}")
    h = Hashed("page", url)
    text = f"{h.words(pools.WORDS, 20, 40).capitalize()}. {h.words(pools.WORDS, 15, 30).capitalize()}."
    return {"url": url, "status": 200, "content_type": "text/html", "text": text, "length": len(text)}


def summarize_text(text: str, max_words: int) -> str:
    """A short summary of ``text`` (a plain string result).

    Examples
    --------
    >>> summarize_text("one two three four five", 3)
    'Summary: one two three'
    """
    text_arg("text", text, 200000)
    int_arg("max_words", max_words, 1, 2000)
    return "Summary: " + " ".join(text.split()[: min(max_words, 30)])


def load_dataset(name: str) -> dict[str, Any]:
    """Load a named dataset and describe its shape.

    Examples
    --------
    >>> load_dataset("iris")["dataset_id"].startswith("ds_")
    True
    """
    text_arg("name", name, 100)
    h = Hashed("dataset", name)
    columns = []
    while len(columns) < h.between(3, 6):
        col = h.pick(pools.COLUMNS)
        if col not in columns:
            columns.append(col)
    return {"dataset_id": f"ds_{h.code(8, HEX)}", "name": name, "rows": h.between(150, 250000), "columns": columns}


def describe_columns(dataset_id: str, columns: list[str]) -> dict[str, Any]:
    """Mean and standard deviation of the given columns.

    Examples
    --------
    >>> sorted(describe_columns("ds_1", ["age", "fare"])["stats"])
    ['age', 'fare']
    """
    text_arg("dataset_id", dataset_id, 40)
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
        raise ValueError(f"columns must be a non-empty list of column names, got {columns!r}")
    h = Hashed("describe", dataset_id)
    return {"dataset_id": dataset_id,
            "stats": {c: {"mean": h.between(0, 100000) / 100, "std": h.between(1, 5000) / 100} for c in columns}}


def plot_histogram(dataset_id: str, column: str, bins: int) -> dict[str, Any]:
    """Render a histogram and return where the image is.

    Examples
    --------
    >>> plot_histogram("ds_1", "age", 20)["bins"]
    20
    """
    text_arg("dataset_id", dataset_id, 40)
    text_arg("column", column, 100)
    int_arg("bins", bins, 2, 500)
    return {"image_url": f"https://plots.research.io/{dataset_id}/{column}-{bins}.png", "column": column, "bins": bins}


def wikipedia_lookup(title: str) -> str:
    """The first paragraph of a Wikipedia article (a plain string result).

    Examples
    --------
    >>> wikipedia_lookup("Graph neural network").startswith("Graph neural network")
    True
    """
    text_arg("title", title, 300)
    return f"{title} is {Hashed('wiki', title).words(pools.WORDS, 8, 14)}."


def run_python(code: str) -> dict[str, Any]:
    """Pretend to run a snippet in a sandbox (nothing is executed).

    Examples
    --------
    >>> run_python("print(1)")["exit_code"]
    0
    """
    text_arg("code", code, 20000)
    h = Hashed("python", code)
    return {"stdout": str(h.between(0, 10000)), "stderr": "", "exit_code": 0}


def _query(r) -> str:
    return r.pick(pools.QUERIES)


TOOLS = tool_table(
    ToolSpec(search_papers, lambda r: {"query": _query(r), "limit": r.pick((5, 10, 20))}, median_ms=700,
             cost=0.001, weight=1),
    ToolSpec(get_paper_details,
             lambda r: {"paper_id": f"{r.between(20, 25)}{r.between(1, 12):02d}.{r.between(10000, 99999)}"},
             median_ms=350, failure_rate=0.005, weight=0.8),
    ToolSpec(web_search, lambda r: {"query": _query(r), "num_results": r.pick((3, 5, 10))}, median_ms=950,
             cost=0.005, failure_rate=0.02, weight=1.5),
    ToolSpec(fetch_url, lambda r: {"url": f"https://en.wikipedia.org/wiki/{r.pick(pools.TOPICS).replace(' ', '_')}"},
             median_ms=1100, spread=0.7, failure_rate=0.015,
             errors=(TIMEOUT, ("HTTPError", "403 Forbidden"))),
    ToolSpec(summarize_text, lambda r: {"text": " ".join(r.pick(pools.WORDS) for _ in range(40)), "max_words": 100},
             median_ms=2200, spread=0.4, cost=0.012, weight=1),
    ToolSpec(load_dataset, lambda r: {"name": r.pick(pools.DATASET_NAMES)}, median_ms=1500, weight=0.8),
    ToolSpec(describe_columns, lambda r: {"dataset_id": f"ds_{r.between(10**7, 10**8):x}", "columns": ["age"]},
             median_ms=600, weight=0.4),
    ToolSpec(plot_histogram, lambda r: {"dataset_id": f"ds_{r.between(10**7, 10**8):x}", "column": r.pick(pools.COLUMNS),
                                        "bins": r.pick((10, 30, 50))}, median_ms=900, weight=0.6),
    ToolSpec(wikipedia_lookup, lambda r: {"title": r.pick(pools.TOPICS).capitalize()}, median_ms=400, weight=3),
    ToolSpec(run_python, lambda r: {"code": f"print(sum(range({r.between(10, 1000)})))"}, median_ms=1800, spread=0.8,
             failure_rate=0.08, errors=(("ExecutionError", "NameError: name 'df' is not defined"), TIMEOUT), weight=2),
)

WORKFLOWS = (
    WorkflowSpec("research_paper_digest", "research", (
        StepSpec("search_papers", {"query": inp("query", _query), "limit": const(5)}),
        StepSpec("get_paper_details", {"paper_id": item("paper_id")}, map_over=(0, "")),
    ), weight=3.0, description="Search papers on a topic and read the details of each hit."),
    WorkflowSpec("research_web_summary", "research", (
        StepSpec("web_search", {"query": inp("query", _query), "num_results": const(5)}),
        StepSpec("fetch_url", {"url": bound(0, "[0].url")}),
        StepSpec("summarize_text", {"text": bound(1, "text"), "max_words": const(120)}),
    ), weight=2.5, description="Search the web, read the top result and summarise it."),
    WorkflowSpec("research_dataset_profile", "research", (
        StepSpec("load_dataset", {"name": inp("name", lambda r: r.pick(pools.DATASET_NAMES))}),
        StepSpec("describe_columns", {"dataset_id": bound(0, "dataset_id"), "columns": bound(0, "columns")}),
        StepSpec("plot_histogram", {"dataset_id": bound(0, "dataset_id"), "column": bound(0, "columns[0]"),
                                    "bins": const(20)}),
    ), weight=1.5, description="Load a dataset, describe its columns and plot the first one."),
)

DOMAIN = Domain("research", ("research-assistant",), TOOLS, WORKFLOWS, weight=0.9)
