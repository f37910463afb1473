"""Reading experiment workdirs (results.json only) into a report; the ground floor.

results (runs and conditions), study (what the runs share), languages (facts and URIEL
distances, languages.csv), stats (bootstrap and permutation), plots, render, questions
and report (`build_report`, `main_report`).
"""
