"""``coursekit-grade``: the instructor's commands (run from the repository root).

    coursekit-grade release [ASSIGNMENT ...]
    coursekit-grade collect ASSIGNMENT FOLDER
    coursekit-grade autograde ASSIGNMENT [--workers 2] [--timeout 300] [--memory 6G] [--force]
                              [--cluster local:N | tcp://HOST:8786 | slurm:jobs=J,cores=C,memory=M]
    coursekit-grade feedback ASSIGNMENT
    coursekit-grade export [ASSIGNMENT ...] [--out grades/grades.csv]
    coursekit-grade summary ASSIGNMENT [--json]
    coursekit-grade validate NOTEBOOK [--invert]
    coursekit-grade check-release [ASSIGNMENT ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from coursekit.grading.course import Course, find_course_dir


def _students(value: str | None) -> list[str] | None:
    return [s.strip() for s in value.split(",") if s.strip()] if value else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="coursekit-grade",
        description="nbgrader workflow of the course: release, collect, autograde, feedback, "
        "export, summary. See docs/instructor.md.",
    )
    p.add_argument("--course", type=Path, default=None,
                   help="course folder with nbgrader_config.py (default: found from the cwd)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="generate assignments/ from solutions/ (all if none named)")
    r.add_argument("assignments", nargs="*")

    c = sub.add_parser("collect", help="copy a folder of submissions into submitted/")
    c.add_argument("assignment")
    c.add_argument("folder", type=Path,
                   help="<folder>/<student>/*.ipynb, <folder>/<student>.ipynb or Canvas "
                   "<student>_<id>_<id>_<name>.ipynb")

    a = sub.add_parser("autograde", help="grade collected submissions in parallel, sandboxed")
    a.add_argument("assignment")
    a.add_argument("--students", help="comma-separated ids (default: all collected)")
    a.add_argument("--workers", type=int, default=2, help="submissions at a time (default 2)")
    a.add_argument("--timeout", type=int, default=None,
                   help="per-cell limit in seconds (default: Execute.timeout, 300)")
    a.add_argument("--memory", default="6G", help="kernel address-space limit (default 6G)")
    a.add_argument("--nproc", type=int, default=512, help="kernel process limit (default 512)")
    a.add_argument("--fsize", default="200M", help="largest file a kernel may write (default 200M)")
    a.add_argument("--no-isolation", action="store_true",
                   help="run student code without the bubblewrap sandbox (limits only): only "
                   "where bwrap cannot work; the summary warns")
    a.add_argument("--wall-limit", type=float, default=None,
                   help="seconds per submission in all (default 2*timeout, within 120-900)")
    a.add_argument("--force", action="store_true", help="grade again already graded submissions")
    a.add_argument("--cluster", default=None, metavar="SPEC",
                   help="grade on Dask instead of the local pool: local:N, tcp://HOST:8786 or "
                   "slurm:jobs=J,cores=C,memory=M (pip install coursekit[cluster]; docs/instructor.md)")

    f = sub.add_parser("feedback", help="per-student HTML feedback without hidden tests")
    f.add_argument("assignment")
    f.add_argument("--students", help="comma-separated ids (default: all graded)")

    e = sub.add_parser("export", help="grades to CSV")
    e.add_argument("assignments", nargs="*")
    e.add_argument("--out", type=Path, default=None)

    s = sub.add_parser("summary", help="score distribution and the most failed tests")
    s.add_argument("assignment")
    s.add_argument("--json", action="store_true", help="print JSON instead of text")

    v = sub.add_parser("validate", help="run a notebook's tests; exit 1 when they fail")
    v.add_argument("notebook", type=Path)
    v.add_argument("--invert", action="store_true",
                   help="succeed only if the tests fail (an unanswered release)")
    v.add_argument("--timeout", type=int, default=None)

    k = sub.add_parser("check-release",
                       help="assignments/ must equal a fresh generate_assignment and leak nothing")
    k.add_argument("assignments", nargs="*")

    g = sub.add_parser("gradebook",
                       help="diagnose gradebook.db (e.g. no alembic_version table); --repair fixes it")
    g.add_argument("--repair", action="store_true", help="record nbgrader's head revision")
    return p


def check_release(course: Course, names: list[str]) -> list[str]:
    """Problems of the committed release of ``names`` (empty = fine)."""
    from coursekit.grading.releasing import regenerate_release
    from coursekit.grading.scan import scan_release

    problems = []
    for name in names:
        problems += scan_release(course.source_dir / name, course.release_dir / name)
        with tempfile.TemporaryDirectory() as tmp:
            fresh = regenerate_release(course.root, name, Path(tmp) / "course")
            committed = course.release_dir / name
            fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
            have = ({p.relative_to(committed) for p in committed.rglob("*") if p.is_file()}
                    if committed.is_dir() else set())
            for rel in sorted(fresh_files ^ have):
                problems.append(f"{name}/{rel}: only in {'the fresh release' if rel in fresh_files else 'assignments/'}")
            for rel in sorted(fresh_files & have):
                if (fresh / rel).read_bytes() != (committed / rel).read_bytes():
                    problems.append(f"{name}/{rel}: differs from a fresh generate_assignment "
                                    "(run coursekit-grade release)")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``coursekit-grade``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            from coursekit.grading.releasing import validate

            res = validate(args.notebook, course_dir=args.course, invert=args.invert,
                           timeout=args.timeout)
            for key in ("type_changed", "changed", "failed", "passed"):
                for item in res.get(key, []):
                    if key == "passed" and not args.invert:
                        continue
                    print(f"--- {key}:\n{item.get('source', '')}\n{item.get('raw_error', '')}")
            print(("OK: " if res["ok"] else "FAILED: ") + str(args.notebook)
                  + (" (tests fail as expected)" if args.invert and res["ok"] else ""))
            return 0 if res["ok"] else 1

        course = Course(args.course or find_course_dir())
        if args.command == "release":
            from coursekit.grading.releasing import release

            release(course.root, args.assignments or None)
        elif args.command == "collect":
            from coursekit.grading.collecting import collect

            got = collect(course.root, args.assignment, args.folder)
            print(f"{len(got)} submission(s) in {course.submitted_dir}")
        elif args.command == "autograde":
            from coursekit.grading.autograding import autograde

            results = autograde(
                course.root, args.assignment, _students(args.students), workers=args.workers,
                timeout=args.timeout, memory=args.memory, nproc=args.nproc, fsize=args.fsize,
                isolate=False if args.no_isolation else None, force=args.force,
                wall_limit=args.wall_limit, cluster=args.cluster,
            )
            for r in results.values():
                print(r)
        elif args.command == "feedback":
            from coursekit.grading.feedback import generate_feedback

            generate_feedback(course.root, args.assignment, _students(args.students))
        elif args.command == "export":
            from coursekit.grading.export import export_grades

            print(export_grades(course.root, args.assignments or None, args.out))
        elif args.command == "summary":
            from coursekit.grading.summary import summarize, write_summary

            s = summarize(course.root, args.assignment)
            if args.json:
                print(json.dumps({k: v for k, v in s.items() if k != "text"}, indent=1))
            else:
                print(s["text"])
                if s.get("n"):
                    print(f"(written to {write_summary(course.root, args.assignment)})")
        elif args.command == "gradebook":
            from coursekit.grading import gradebook_doctor

            db = course.root / "gradebook.db"
            diag = gradebook_doctor.repair(db) if args.repair else gradebook_doctor.diagnose(db)
            print(diag.explain())
            return 1 if diag.needs_repair else 0
        elif args.command == "check-release":
            problems = check_release(course, args.assignments or course.assignments())
            for line in problems:
                print(line)
            print("release OK" if not problems else f"{len(problems)} problem(s)")
            return 1 if problems else 0
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"coursekit-grade {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
