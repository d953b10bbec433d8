"""What the pages share (the pages stay widgets and calls; mnist_core stays free of Streamlit).

By concern: process (start-up settings), models (loading and reading), memos (the Draw page's per-image
store), charts, canvas (the Draw page's input), keep (keeping labelled drawings), runs (training runs),
comparison (the Compare page's views), inside_views (the Inside page's sections), links. The names the
pages use are here too, but for canvas's: the canvas component can only be imported where Streamlit runs
(a page), so the Draw page imports lab_ui.canvas itself, and tests can import lab_ui. Importing lab_ui
changes nothing in the process: app.py calls startup() once.
"""

from lab_ui.charts import accuracy_figure, loss_figure, models_figure, proba_bars, smooth
from lab_ui.keep import keep_drawing_ui
from lab_ui.links import page_link
from lab_ui.memos import KEPT_SIDE, MEMO_BYTES, MEMO_IMAGES, ImageMemos, image_memo, once, read_image
from lab_ui.models import model_choices, model_probs, model_reading, predictor
from lab_ui.process import startup
from lab_ui.runs import (
    DATASET_LABELS,
    clear_job_runners,
    job_runner,
    missing_data_help,
    run_metrics_ui,
    run_status_ui,
    runner_ui,
    runs_table,
    stop_ui,
)
from lab_ui.text import name_md, plain, problem, shown_path
from lab_ui.visitors import (
    acting_as,
    may_change,
    operator_ui,
    owner_label,
    visitor_token,
)

__all__ = [
    "acting_as",
    "may_change",
    "operator_ui",
    "owner_label",
    "visitor_token",
    "DATASET_LABELS",
    "KEPT_SIDE",
    "MEMO_BYTES",
    "MEMO_IMAGES",
    "ImageMemos",
    "accuracy_figure",
    "clear_job_runners",
    "image_memo",
    "job_runner",
    "keep_drawing_ui",
    "loss_figure",
    "missing_data_help",
    "model_choices",
    "name_md",
    "plain",
    "problem",
    "shown_path",
    "model_probs",
    "model_reading",
    "models_figure",
    "once",
    "page_link",
    "predictor",
    "proba_bars",
    "read_image",
    "run_metrics_ui",
    "run_status_ui",
    "runner_ui",
    "runs_table",
    "smooth",
    "startup",
    "stop_ui",
]
