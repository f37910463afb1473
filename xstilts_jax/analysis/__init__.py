"""Reading experiment workdirs (results.json only) into a report; the ground floor.

results (runs and conditions, found below sweep roots), study (what the runs share, one
replicate per condition and seed), languages (facts and URIEL distances, languages.csv),
stats (Welch t on runs, Holm, permutation and bootstrap), plots, render, questions (one
primary test per question), report (`build_report`, `main_report`) and calibrate (the
primary tests on simulated sweeps: false-claim rate and power).
"""


def add_report_arguments(parser) -> None:
  """The arguments of `xstilts report` (here, so the CLI does not import matplotlib to parse)."""
  parser.add_argument(
      "paths", nargs="+", metavar="PATH", help="workdirs or sweep roots: every results.json below them is a run"
  )
  parser.add_argument(
      "--baseline",
      action="append",
      default=[],
      metavar="PATH",
      help="the baseline's runs (every results.json below PATH); repeat for "
      "several; default: the one condition without intermediate training",
  )
  parser.add_argument("--out", required=True, metavar="DIR", help="where the report is written")
