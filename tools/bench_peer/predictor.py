"""The peer of ``make bench-serve``: a Flask + pandas predictor, the pattern of SageMaker's bring-your-own-container
samples (written here in that pattern, not copied): the model loaded once per worker, ``/ping`` answering 200 when it
is loaded, ``/invocations`` reading ``text/csv`` with ``pandas.read_csv`` into a DataFrame, predicting, and writing
the scores back with ``DataFrame.to_csv``. Served by gunicorn with gevent workers behind nginx.

Environment: ``PEER_MODEL_PATH`` (a joblib-dumped scikit-learn classifier).
"""

from __future__ import annotations

import io
import os

import flask
import joblib
import pandas as pd

model = joblib.load(os.environ["PEER_MODEL_PATH"])
app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():
    status = 200 if model is not None else 404
    return flask.Response(response="\n", status=status, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def transformation():
    if flask.request.content_type != "text/csv":
        return flask.Response(response="This predictor only supports CSV data", status=415, mimetype="text/plain")
    data = pd.read_csv(io.StringIO(flask.request.data.decode("utf-8")), header=None)
    predictions = model.predict_proba(data.values)[:, 1]
    out = io.StringIO()
    pd.DataFrame({"results": predictions}).to_csv(out, header=False, index=False)
    return flask.Response(response=out.getvalue(), status=200, mimetype="text/csv")
