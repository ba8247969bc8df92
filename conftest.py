"""nbval on the solved notebooks: an exercise's check cell must pass there.

The check cells carry the `raises-exception` tag, so that in the student version (and a release made by nbgrader) a
student's Run All goes on past a check that is not answered yet; nbval takes that tag to allow an error, which in the
solved course would hide a wrong solution. Here the tag is ignored for check cells (nbgrader grade cells).
"""


def pytest_collection_modifyitems(items):
    for item in items:
        cell = getattr(item, "cell", None)
        options = getattr(item, "options", None)
        if isinstance(cell, dict) and isinstance(options, dict) and \
                cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            options["check_exception"] = False
