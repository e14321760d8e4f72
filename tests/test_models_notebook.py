"""The models-and-registry notebook trains, logs, registers and reloads a model in a real kernel."""

from __future__ import annotations

from conftest import copy_example, execute_notebook

import jupyter_tracker as jt


def test_models_notebook_registers_and_reloads_the_champion(store_dir, tmp_path):
    notebook = execute_notebook(copy_example("04-models-and-registry.ipynb", tmp_path), store_dir, timeout=300)

    runs = jt.search_runs(experiment="cancer").set_index("run_name")
    assert set(runs.index) == {"forest", "logistic"} and set(runs.status) == {"FINISHED"}
    forest = jt.get_run(runs.loc["forest", "run_id"])
    assert {i["context"] for i in forest.inputs} == {"training", "test"}
    assert "system/cpu_percent" in forest.metrics
    logistic = jt.get_run(runs.loc["logistic", "run_id"])
    assert logistic.tags["estimator_name"] == "Pipeline" and "training_accuracy_score" in logistic.metrics

    (version,) = jt.search_model_versions("cancer-classifier").itertuples()
    assert version.stage == "Production" and list(version.aliases) == ["champion"]
    best = runs["metrics.test_accuracy"].astype(float).idxmax()
    assert version.run_id == runs.loc[best, "run_id"]
    outputs = {i: "".join(o.get("text", "") for o in cell.get("outputs", [])) for i, cell in enumerate(notebook.cells)}
    reload_output = next(text for text in outputs.values() if text.startswith("champion:"))
    assert float(reload_output.rsplit("accuracy=", 1)[1]) > 0.85
    assert any(text.startswith("SignatureMismatchError - the input lacks column(s) 'worst area'")
               for text in outputs.values())
