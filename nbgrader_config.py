# nbgrader configuration of the course (read by every `nbgrader ...` command run
# from the repository root, and by `coursekit-grade`, which adds the sandboxed
# kernel, parallel workers and the leak-free feedback on top).
#
#   solutions/<assignment>/    nbgrader's *source* folder: notebooks with solutions
#                              and hidden tests (instructor only)
#   assignments/<assignment>/  nbgrader's *release* folder: what students get,
#                              exactly what `nbgrader generate_assignment` makes
#   gradebook.db, submitted/, autograded/, feedback/, grades/, .nbgrader-work/
#                              instructor-side working files, never committed
#
# See docs/instructor.md for the workflow.
import os
import sys

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

# nbgrader creates and upgrades gradebook.db by running `alembic` found on PATH. A
# JupyterLab started as `.venv/bin/jupyter lab` (without the venv's bin/ on PATH) loads
# this file in its own process when Formgrader opens: put that interpreter's bin/ first,
# so Formgrader works however JupyterLab was started.
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

_ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = _ROOT
c.CourseDirectory.course_id = "intro-deep-learning"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# Files of the source folder that are not part of the release (SPEC.md is released:
# students read the graded functions, shapes and points there).
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "EQUIVALENT_MUTANTS.md",  # the mutation gate's notes (instructors only; they hint at the solution)
    "*.keras",  # a model saved by running a solution notebook in place (fashion_model.keras)
]
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_ROOT, "gradebook.db")

# Releasing: replace the solution regions by a stub, drop hidden tests, lock
# the test cells, store no outputs.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.enforce_metadata = True
c.ClearHiddenTests.enforce_metadata = True
c.LockCells.lock_grade_cells = True
c.LockCells.lock_readonly_cells = True
c.LockCells.lock_solution_cells = False
c.ClearOutput.remove_metadata_fields = ["collapsed", "scrolled"]

# Autograding: training cells need time. Per-cell limit in seconds; override
# with the COURSEKIT_GRADE_TIMEOUT environment variable or
# `coursekit-grade autograde --timeout S`. An infinite loop is interrupted and
# that cell (and the tests depending on it) scores zero.
c.Execute.timeout = int(os.environ.get("COURSEKIT_GRADE_TIMEOUT", "300"))
c.Execute.interrupt_on_timeout = True
# Huge outputs (a student printing 100 MB) arrive slowly: wait for them rather
# than abandon the whole notebook (nbclient's default waits 4 s, then fails).
c.Execute.iopub_timeout = 60
c.Execute.raise_on_iopub_timeout = False
# A student who deletes a locked test cell gets it back (and is graded on it);
# edited test cells are restored from the gradebook.
c.OverwriteCells.add_missing_cells = True
# Before grading: a copied locked cell (duplicate grade_id, nbgrader issue
# #1083) is dropped instead of breaking the whole submission.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "coursekit.grading.preprocessors.DropDuplicateGradeCells",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Outputs of huge prints are cut in the autograded notebook and the feedback.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
# Feedback shows no hidden tests (coursekit-grade feedback also replaces the
# outputs of hidden-test cells by the failure message only).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "coursekit.grading.feedback.HiddenTestOutputs",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Students are created in the gradebook when their first submission is graded.
c.Autograde.create_student = True
