"""MNIST Lab's home page: what the lab is, the state of data, device and models, and the pages."""

import streamlit as st

import lab_ui
from mnist_core import data, devices, inference

st.title("MNIST Lab")
st.markdown(
    "Train the classic MNIST networks from the well-known tutorials (softmax regression, MLPs, LeNet-5, "
    "a ConvNet, an LSTM over image rows and a modern fast CNN) and watch them learn with live charts. "
    "Then draw a digit to see every model's class probabilities, and compare the architectures side by side."
)

st.subheader("Status")
col_data, col_device, col_models = st.columns(3)
# a third of the page: plain words that wrap at spaces (a code span or a URL would break mid-word)
where = lab_ui.shown_path(data.raw_dir("mnist"), "the folder MNIST_DATA_DIR names", code=False)
if data.is_available("mnist"):
    col_data.metric("Dataset", "MNIST found")
    col_data.caption(f"in {where}")
else:
    col_data.metric("Dataset", "not found")
    col_data.caption(
        f"Downloaded into {where} from the PyTorch project's mirror when a run starts (needs internet), "
        f"or set {lab_ui.plain('MNIST_DATA_DIR')} to a folder that holds it. See Train for details."
    )
col_device.metric("Device", devices.describe_device())
col_device.caption("where training runs; predictions run on the CPU")
models = inference.list_models()
col_models.metric("Models available", len(models))
col_models.caption(", ".join(models) if models else "none yet: train one, or ship them in `models/`")

active = lab_ui.job_runner().active()
if active:
    st.info(f"Training now: {', '.join(f'{j.name} ({j.status})' for j in active)}.")

lab_ui.operator_ui()

st.subheader("Pages")
lab_ui.page_link("app_pages/train.py", label="Train: pick an architecture and watch it learn", icon="🏋️")
lab_ui.page_link("app_pages/draw.py", label="Draw: a digit, and what every model sees in it", icon="✍️")
lab_ui.page_link("app_pages/compare.py", label="Compare: accuracy, curves, confusions and mistakes", icon="📊")
lab_ui.page_link("app_pages/inside.py", label="Inside: what each layer makes of your drawing", icon="🔬")
lab_ui.page_link("app_pages/digits.py", label="Digits: your kept drawings, and a model fine-tuned on them", icon="🗂️")
