"""Catify as an MLflow model from the command line: what the Models page does, for scripts and CI.

    python scripts/catify_model.py log [--iterations 2] [--instruction "Add 12 kittens."] [--provider demo] [--alias champion]
    python scripts/catify_model.py versions
    python scripts/catify_model.py alias champion 3
    python scripts/catify_model.py predict models:/catify@champion "a cat in the snow" [--iterations 1] [--out DIR]
    python scripts/catify_model.py serve [--model models:/catify@champion] [--port 5001]

The store and experiment come from MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME (defaults as in the app);
a key from OPENAI_API_KEY. Errors are one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

from core.config import Settings
from core.conversations import ConversationStore
from core.mlflow_model import registry

warnings.filterwarnings("ignore", category=UserWarning)  # MLflow's advice on type hints and input examples


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "provider", None):
        base = Settings.for_provider(args.provider)
        settings = base.with_(
            tracking_uri=settings.tracking_uri,
            experiment_name=settings.experiment_name,
            api_key=settings.api_key,
            base_url=args.base_url or base.base_url,
        )
    return settings


def _models_experiment(settings: Settings) -> str:
    return ConversationStore.connect(settings.tracking_uri, settings.experiment_name).models_experiment_id


def cmd_log(args: argparse.Namespace) -> None:
    settings = _settings(args)
    version = registry.log_catify(
        settings.tracking_uri, settings.experiment_name, settings, args.iterations, args.name, instruction=args.instruction
    )
    print(f"logged {args.name} version {version} ({settings.provider}, {args.iterations} iteration(s))")
    if args.alias:
        registry.set_alias(settings.tracking_uri, args.alias, version, args.name)
        print(f"alias {args.alias} -> version {version}")


def cmd_versions(args: argparse.Namespace) -> None:
    rows = registry.versions(_settings(args).tracking_uri, args.name)
    if not rows:
        print(f"no versions of {args.name} yet: run `log` first")
    for row in rows:
        when = datetime.fromtimestamp(row.created_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        print(
            f"{row.version:>4}  {','.join(row.aliases) or '-':<16} {when}  {row.user or '-':<10} "
            f"{row.provider:<18} iterations={row.iterations} instruction={row.instruction[:60]!r}"
        )


def cmd_alias(args: argparse.Namespace) -> None:
    registry.set_alias(_settings(args).tracking_uri, args.alias, args.version, args.name)
    print(f"alias {args.alias} -> {args.name} version {args.version}")


def cmd_predict(args: argparse.Namespace) -> None:
    settings = _settings(args)
    model = registry.load(settings.tracking_uri, args.model)
    params = {"iterations": args.iterations} if args.iterations else {}
    # traced into the models experiment (issue 32): predictions are not chat usage
    results = registry.predict(model, args.prompts, params, experiment_id=_models_experiment(settings))
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    for result in results:
        for image in result["images"]:
            if out and image.get("png_base64"):
                (out / f"{image['image_id']}.png").write_bytes(base64.b64decode(image["png_base64"]))
            image.pop("png_base64", None)  # the pictures go to files, not to the terminal
        print(json.dumps(result, indent=2, ensure_ascii=False))
    if out:
        print(f"pictures written to {out}/", file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> None:
    """`mlflow models serve` on loopback with the app's store (the demo provider needs nothing else)."""
    settings = _settings(args)
    # predictions are traced into the app's models experiment, so the Traces page shows them as model predictions
    # (issue 32); by id, so a version logged before it (whose model file traces where MLflow's experiment is) does too
    env = {**os.environ, "MLFLOW_TRACKING_URI": settings.tracking_uri, "MLFLOW_EXPERIMENT_ID": _models_experiment(settings)}
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    command = ["mlflow", "models", "serve", "-m", args.model, "--env-manager", "local", "-h", args.host, "-p", str(args.port)]
    print(" ".join(command), file=sys.stderr)
    raise SystemExit(subprocess.call(command, env=env))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default=registry.MODEL_NAME, help="registered model name (default catify)")
    sub = parser.add_subparsers(dest="command", required=True)
    log = sub.add_parser("log", help="log the Catify team as a new version")
    log.add_argument("--iterations", type=int, default=2)
    log.add_argument("--provider", choices=("demo", "openai", "openai-compatible"))
    log.add_argument("--base-url", default="")
    log.add_argument("--alias", default="", help="also point this alias at the new version")
    log.add_argument("--instruction", default="", help="the critic's instruction (default: the app's)")
    log.set_defaults(run=cmd_log)
    sub.add_parser("versions", help="list versions and aliases").set_defaults(run=cmd_versions)
    alias = sub.add_parser("alias", help="point an alias at a version")
    alias.add_argument("alias")
    alias.add_argument("version", type=int)
    alias.set_defaults(run=cmd_alias)
    predict = sub.add_parser("predict", help="load a version by URI and predict")
    predict.add_argument("model", help="e.g. models:/catify@champion or models:/catify/3")
    predict.add_argument("prompts", nargs="+")
    predict.add_argument("--iterations", type=int, default=0)
    predict.add_argument("--out", default="", help="write the pictures here as PNG files")
    predict.set_defaults(run=cmd_predict)
    serve = sub.add_parser("serve", help="serve a version over HTTP (POST /invocations)")
    serve.add_argument("--model", default=f"models:/{registry.MODEL_NAME}@champion")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5001)
    serve.set_defaults(run=cmd_serve)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except registry.RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
