"""MLflow's model registry, used the way a team does, run unchanged against any tracking URI
(MLFLOW_TRACKING_URI, which is also the registry URI); prints its answers as one JSON document with
times and ids left out, so two backends can be compared."""

import json
import sys

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def version_summary(version, with_aliases=True):
    return {"name": version.name, "version": int(version.version), "stage": version.current_stage,
            "description": version.description, "tags": dict(version.tags),
            "aliases": sorted(version.aliases) if with_aliases else None,
            "status": version.status, "has_run": bool(version.run_id),
            "source_scheme": version.source.split(":")[0]}


def model_summary(model):
    return {"name": model.name, "description": model.description, "tags": dict(model.tags),
            "aliases": dict(sorted(model.aliases.items())),
            "latest": sorted((v.current_stage, int(v.version)) for v in model.latest_versions)}


def error_code(call):
    try:
        call()
    except MlflowException as exc:
        return exc.error_code
    return None


def deleted_versions(client, run_ids):
    """A deleted version is gone for every reader (get, edits, aliases, latest, searches, loading by
    stage) and its number is never given again, not even once every version is deleted."""
    client.create_registered_model("scratch")
    for run_id in run_ids:
        mlflow.register_model(f"runs:/{run_id}/model", "scratch")
    client.set_registered_model_alias("scratch", "best", 3)
    client.set_registered_model_alias("scratch", "first", 1)
    client.transition_model_version_stage("scratch", 3, "Production")
    client.delete_model_version("scratch", 3)
    answers = {
        "get": error_code(lambda: client.get_model_version("scratch", 3)),
        "delete_again": error_code(lambda: client.delete_model_version("scratch", 3)),
        "tag": error_code(lambda: client.set_model_version_tag("scratch", 3, "k", "v")),
        "describe": error_code(lambda: client.update_model_version("scratch", 3, "d")),
        "stage": error_code(lambda: client.transition_model_version_stage("scratch", 3, "Staging")),
        "alias_to_it": error_code(lambda: client.set_registered_model_alias("scratch", "x", 3)),
        "its_alias": error_code(lambda: client.get_model_version_by_alias("scratch", "best")),
        "download_uri": error_code(lambda: client.get_model_version_download_uri("scratch", 3)),
        "load_by_stage": error_code(lambda: mlflow.pyfunc.load_model("models:/scratch/Production")),
        "latest_alias": int(client.get_model_version_by_alias("scratch", "latest").version),
        "latest_versions": sorted((v.current_stage, int(v.version)) for v in client.get_latest_versions("scratch")),
        "model": model_summary(client.get_registered_model("scratch")),
        "search": [int(v.version) for v in client.search_model_versions("name = 'scratch'")],
        "search_by_run": [int(v.version) for v in client.search_model_versions(f"run_id = '{run_ids[2]}'")
                          if v.name == "scratch"],
        "in_model_search": [sorted(int(v.version) for v in m.latest_versions)
                            for m in client.search_registered_models("name = 'scratch'")],
        "next": int(mlflow.register_model(f"runs:/{run_ids[2]}/model", "scratch").version),
    }
    client.delete_model_version("scratch", 4)      # the latest again
    client.delete_model_version("scratch", 2)
    answers["next_after_two"] = int(mlflow.register_model(f"runs:/{run_ids[1]}/model", "scratch").version)
    for version in (1, 5):
        client.delete_model_version("scratch", version)
    answers["none_left"] = [error_code(lambda: client.get_model_version_by_alias("scratch", "latest")),
                            client.get_latest_versions("scratch"), client.get_registered_model("scratch").aliases]
    answers["next_when_none_left"] = int(mlflow.register_model(f"runs:/{run_ids[0]}/model", "scratch").version)
    return answers


def main():
    answers = {}
    client = MlflowClient()
    mlflow.set_experiment("registry")
    X, y = load_iris(return_X_y=True)
    run_ids = []
    for c in (0.1, 1.0, 10.0):
        with mlflow.start_run(run_name=f"C={c}") as run:
            mlflow.log_param("C", c)
            mlflow.sklearn.log_model(LogisticRegression(C=c, max_iter=300).fit(X, y), name="model",
                                     pip_requirements=["scikit-learn"])  # no slow requirement inference
        run_ids.append(run.info.run_id)

    client.create_registered_model("iris", tags={"team": "vision"}, description="iris classifier")
    answers["exists_again"] = error_code(lambda: client.create_registered_model("iris"))
    versions = [mlflow.register_model(f"runs:/{run_id}/model", "iris", tags={"C": str(c)})
                for run_id, c in zip(run_ids, (0.1, 1.0, 10.0))]
    answers["versions"] = [int(v.version) for v in versions]
    mlflow.register_model(f"runs:/{run_ids[0]}/model", "other-model")

    client.update_model_version("iris", 2, description="the balanced one")
    client.set_model_version_tag("iris", 2, "validated", "yes")
    client.delete_model_version_tag("iris", 1, "C")
    client.set_registered_model_tag("iris", "owner", "ana")
    client.delete_registered_model_tag("iris", "team")
    client.update_registered_model("iris", description="iris classifier, v2 is the champion")
    client.set_registered_model_alias("iris", "champion", 2)
    client.set_registered_model_alias("iris", "challenger", 3)
    client.set_registered_model_alias("iris", "challenger", 1)  # moves
    answers["by_alias"] = version_summary(client.get_model_version_by_alias("iris", "champion"))
    answers["latest_alias"] = int(client.get_model_version_by_alias("iris", "latest").version)

    client.transition_model_version_stage("iris", 1, "Production")
    client.transition_model_version_stage("iris", 2, "staging")
    client.transition_model_version_stage("iris", 2, "Production", archive_existing_versions=True)
    answers["stages"] = {v: client.get_model_version("iris", v).current_stage for v in ("1", "2", "3")}
    answers["latest_versions"] = sorted((v.current_stage, int(v.version)) for v in client.get_latest_versions("iris"))
    answers["latest_production"] = [int(v.version) for v in client.get_latest_versions("iris", ["Production"])]
    answers["model"] = model_summary(client.get_registered_model("iris"))

    answers["search_models"] = [m.name for m in client.search_registered_models()]
    answers["search_models_like"] = [m.name for m in client.search_registered_models("name LIKE 'ir%'")]
    answers["search_models_tag"] = [m.name for m in client.search_registered_models("tags.owner = 'ana'")]
    answers["search_models_desc"] = [m.name for m in client.search_registered_models(order_by=["name DESC"])]
    page = client.search_registered_models(max_results=1)
    answers["models_pages"] = [[m.name for m in page],
                               [m.name for m in client.search_registered_models(max_results=1,
                                                                                page_token=page.token)]]
    answers["search_versions"] = [(v.name, int(v.version)) for v in client.search_model_versions(
        "name = 'iris'", order_by=["version_number ASC"])]
    answers["search_versions_tag"] = [int(v.version) for v in client.search_model_versions(
        "name = 'iris' and tags.validated = 'yes'")]
    answers["search_versions_run"] = sorted((v.name, int(v.version)) for v in client.search_model_versions(
        f"run_id = '{run_ids[0]}'"))
    # MLflow's SQL registry leaves aliases out of search results (get_model_version has them).
    answers["version_summaries"] = [version_summary(v, with_aliases=False) for v in client.search_model_versions(
        "name = 'iris'", order_by=["version_number ASC"])]

    features = X[:5]
    champion = mlflow.pyfunc.load_model("models:/iris@champion")
    expected = LogisticRegression(C=1.0, max_iter=300).fit(X, y).predict(features)
    answers["champion_predicts_like_v2"] = [int(v) for v in champion.predict(features)] == [int(v) for v in expected]
    production = mlflow.pyfunc.load_model("models:/iris/Production")
    answers["production_predicts"] = [int(v) for v in production.predict(features)]
    answers["download_uri_set"] = bool(client.get_model_version_download_uri("iris", 2))

    client.delete_model_version("iris", 3)
    answers["after_delete"] = sorted(int(v.version) for v in client.search_model_versions("name = 'iris'"))
    answers["next_after_delete"] = int(mlflow.register_model(f"runs:/{run_ids[2]}/model", "iris").version)
    client.delete_registered_model_alias("iris", "challenger")
    answers["alias_gone"] = error_code(lambda: client.get_model_version_by_alias("iris", "challenger"))

    client.rename_registered_model("iris", "iris-prod")
    renamed = client.get_registered_model("iris-prod")
    answers["renamed"] = model_summary(renamed)
    answers["renamed_alias"] = int(client.get_model_version_by_alias("iris-prod", "champion").version)
    answers["old_name"] = error_code(lambda: client.get_registered_model("iris"))
    answers["rename_taken"] = error_code(lambda: client.rename_registered_model("iris-prod", "other-model"))
    answers["missing_version"] = error_code(lambda: client.get_model_version("iris-prod", 9))
    answers["bad_stage"] = error_code(lambda: client.transition_model_version_stage("iris-prod", 1, "Live"))
    answers["reserved_alias"] = error_code(lambda: client.set_registered_model_alias("iris-prod", "latest", 1))

    # Prompts live in the registry as tagged models: kept, and left out of the models' searches.
    mlflow.genai.register_prompt(name="greeting", template="Hello {{name}}!", commit_message="first")
    mlflow.genai.register_prompt(name="greeting", template="Hi {{name}}!", commit_message="shorter")
    mlflow.genai.set_prompt_alias("greeting", alias="production", version=1)
    answers["prompt"] = [mlflow.genai.load_prompt("prompts:/greeting@production").format(name="Ana"),
                         mlflow.genai.load_prompt("prompts:/greeting/2").format(name="Ana")]

    answers["deleted"] = deleted_versions(client, run_ids)

    client.delete_registered_model("other-model")
    answers["models_at_end"] = [m.name for m in client.search_registered_models()]
    json.dump(answers, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
