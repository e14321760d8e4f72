"""A realistic MLflow script, run unchanged against any tracking URI (MLFLOW_TRACKING_URI); it prints
its answers as one JSON document, with ids and times left out, so two backends can be compared."""

import json
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

IGNORED_TAGS = ("mlflow.source", "mlflow.user", "mlflow.log-model", "mlflow.autologging", "jupyter_tracker.",
                "mlflow.loggedArtifacts")


def run_summary(run):
    return {"name": run.info.run_name, "status": run.info.status, "stage": run.info.lifecycle_stage,
            "params": dict(run.data.params), "metrics": dict(run.data.metrics),
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith(IGNORED_TAGS)
                     and k != "mlflow.parentRunId"},
            "has_parent": "mlflow.parentRunId" in run.data.tags,
            "inputs": sorted((d.dataset.name, d.dataset.digest, d.dataset.source_type,
                              sorted((t.key, t.value) for t in d.tags)) for d in run.inputs.dataset_inputs)}


def main():
    answers = {}
    client = MlflowClient()
    experiment_id = mlflow.set_experiment("churn").experiment_id
    frame = pd.DataFrame({"age": [31, 45, 27, 52], "churned": [0, 1, 0, 1]})
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"lr": 0.1, "model": "rf"})
        mlflow.set_tags({"team": "growth", "stage": "dev"})
        for step in range(5):
            mlflow.log_metrics({"loss": 1.0 / (step + 1), "acc": 0.5 + step / 10}, step=step)
        with tempfile.TemporaryDirectory() as folder:
            notes = Path(folder) / "notes.txt"
            notes.write_text("a first try\n")
            mlflow.log_artifact(str(notes), artifact_path="docs")
        mlflow.log_dict({"features": ["age"]}, "config/features.json")
        figure, axes = plt.subplots()
        axes.plot([1, 2, 3])
        mlflow.log_figure(figure, "plots/curve.png")
        mlflow.log_table({"a": [1, 2], "b": ["x", "y"]}, "tables/sample.json")
        mlflow.log_input(mlflow.data.from_pandas(frame, name="customers", targets="churned"), context="training")
        for depth in (2, 4):
            with mlflow.start_run(run_name=f"child-{depth}", nested=True):
                mlflow.log_param("depth", depth)
                mlflow.log_metric("acc", 0.7 + depth / 100)
    parent_id = parent.info.run_id
    mlflow.sklearn.autolog(log_models=True, log_datasets=False)
    X, y = load_iris(return_X_y=True)
    with mlflow.start_run(run_name="autolog") as auto:
        model = LogisticRegression(max_iter=200).fit(X, y)
    mlflow.sklearn.autolog(disable=True)
    auto_run = client.get_run(auto.info.run_id)
    answers["autolog_params"] = sorted(auto_run.data.params.items())
    answers["autolog_metrics"] = sorted(auto_run.data.metrics)
    searches = {
        "children": f"tags.mlflow.parentRunId = '{parent_id}'",
        "acc": "metrics.acc > 0.71",
        "like": "attributes.run_name LIKE 'child-%'",
        "param_null": "params.depth IS NULL",
        "dataset": "datasets.name = 'customers'",
        "status": "attributes.status = 'FINISHED' and params.model = 'rf'",
    }
    for label, text in searches.items():
        runs = client.search_runs([experiment_id], filter_string=text, order_by=["attributes.run_name ASC"])
        answers[f"search:{label}"] = [r.info.run_name for r in runs]
    ordered = client.search_runs([experiment_id], order_by=["metrics.acc DESC"], max_results=2)
    answers["ordered"] = [r.info.run_name for r in ordered]
    page = client.search_runs([experiment_id], order_by=["attributes.run_name ASC"], max_results=2)
    rest = client.search_runs([experiment_id], order_by=["attributes.run_name ASC"], max_results=2,
                              page_token=page.token)
    answers["pages"] = [[r.info.run_name for r in page], [r.info.run_name for r in rest]]
    answers["frame_columns"] = sorted(c for c in mlflow.search_runs([experiment_id]).columns
                                      if c.startswith(("metrics.", "params.")))
    answers["history"] = [(m.step, m.value) for m in sorted(client.get_metric_history(parent_id, "loss"),
                                                           key=lambda m: m.step)]
    answers["parent"] = run_summary(client.get_run(parent_id))
    answers["artifacts"] = sorted(a.path for a in client.list_artifacts(parent_id))
    answers["artifacts_plots"] = sorted((a.path, a.is_dir) for a in client.list_artifacts(parent_id, "plots"))
    with tempfile.TemporaryDirectory() as folder:
        answers["config"] = json.loads(Path(client.download_artifacts(parent_id, "config/features.json", folder))
                                       .read_text())
    child = client.search_runs([experiment_id], filter_string="attributes.run_name = 'child-2'")[0]
    client.delete_run(child.info.run_id)
    answers["after_delete"] = sorted(r.info.run_name for r in client.search_runs([experiment_id]))
    answers["deleted_only"] = [r.info.run_name for r in client.search_runs(
        [experiment_id], run_view_type=mlflow.entities.ViewType.DELETED_ONLY)]
    client.restore_run(child.info.run_id)
    answers["after_restore"] = sorted(r.info.run_name for r in client.search_runs([experiment_id]))
    client.set_terminated(child.info.run_id, "KILLED")
    answers["terminated"] = client.get_run(child.info.run_id).info.status
    logged = mlflow.search_logged_models([experiment_id], output_format="list")
    answers["logged_models"] = sorted((m.name, m.source_run_id == auto.info.run_id) for m in logged)
    version = mlflow.register_model(f"runs:/{auto.info.run_id}/model", "iris")
    client.set_registered_model_alias("iris", "champion", version.version)
    loaded = mlflow.pyfunc.load_model("models:/iris@champion")
    answers["prediction"] = [int(v) for v in loaded.predict(X[:5])]
    answers["same_as_model"] = answers["prediction"] == [int(v) for v in model.predict(X[:5])]
    answers["alias_version"] = client.get_model_version_by_alias("iris", "champion").version
    answers["experiments"] = sorted(e.name for e in client.search_experiments())
    json.dump(answers, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
