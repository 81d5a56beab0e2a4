"""Champion / challenger on the command line, for CI: evaluate two or more versions (or aliases) of a team's
registered model on a prompt set with MLflow's GenAI evaluation, print the table, and fail when the challenger is
worse than the champion by more than a stated margin.

    python scripts/evaluate_models.py --model catify --champion champion --challenger challenger \\
        --prompts prompts.csv [--metric score] [--margin 0.05] [--promote champion]
    python scripts/evaluate_models.py --model catify --champion 1 --challenger 2 --prompt-set "cats, three"
    python scripts/evaluate_models.py --model catify --champion champion --challenger challenger --prompt "a cat"

Prompts: `--prompts FILE` (CSV or JSON, as the Models page takes; saved as an MLflow evaluation dataset named after
the file unless `--no-save`), `--prompt-set NAME` (one saved before), or `--prompt TEXT` (repeatable). `--metric`:
score (the share of checks passed; the default), cats, cost_usd, latency_s, errors, or any scorer's mean; the margin
is in the metric's unit. `--promote ALIAS` moves the alias to the winner after the evaluation.

`--from-run RUN_ID` judges a past evaluation again (another metric or margin) without running it.

Exit status: 0 the challenger is not worse than the champion by more than the margin; 1 it is; 2 the evaluation
could not run (one line on stderr). The store and experiment come from MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME
(defaults as in the app); a key from OPENAI_API_KEY."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from core import evaluation, prompt_sets
from core.config import Settings
from core.conversations import ConversationStore
from core.errors import UserError
from core.mlflow_model import registry

warnings.filterwarnings("ignore", category=UserWarning)


def _prompt_set(args: argparse.Namespace, settings: Settings) -> prompt_sets.PromptSet:
    uri = settings.tracking_uri
    experiment_id = ConversationStore.connect(uri, settings.experiment_name).experiment_id
    given = [bool(args.prompts), bool(args.prompt_set), bool(args.prompt)]
    if sum(given) != 1:
        raise UserError("Give the prompts one way: --prompts FILE, --prompt-set NAME or --prompt TEXT.")
    if args.prompt_set:
        found = [s for s in prompt_sets.list_sets(uri, experiment_id) if s.name == args.prompt_set]
        if not found:
            raise UserError(f"No prompt set named “{args.prompt_set}” in experiment {settings.experiment_name}.")
        return prompt_sets.load(uri, found[0].dataset_id)
    if args.prompt:
        rows = prompt_sets.from_lines("\n".join(args.prompt))
        name = f"cli {time.strftime('%Y-%m-%d %H:%M:%S')}"
    else:
        path = Path(args.prompts)
        if not path.is_file():
            raise UserError(f"{path} is not a file.")
        rows, name = prompt_sets.from_upload(path.name, path.read_bytes()), f"{path.stem} {time.strftime('%H%M%S')}"
    if args.no_save:
        return prompt_sets.PromptSet(name, rows)
    logged = registry.versions(uri, args.model)
    return prompt_sets.save(uri, experiment_id, name, rows, logged[0].scenario if logged else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=registry.MODEL_NAME, help="registered model name (default catify)")
    parser.add_argument("--champion", required=True, help="alias or version number of the champion")
    parser.add_argument(
        "--challenger", required=True, action="append", help="alias or version number of a challenger (repeatable; the first is compared)"
    )
    parser.add_argument("--prompts", default="", help="a CSV or JSON file of prompts")
    parser.add_argument("--prompt-set", default="", help="the name of a saved prompt set")
    parser.add_argument(
        "--prompt",
        action="append",
        default=[],
        help="a prompt (repeatable); 'text | contains: x | regex: y | min_cats: n' adds expectations",
    )
    parser.add_argument("--no-save", action="store_true", help="do not save --prompts/--prompt as a dataset")
    parser.add_argument("--metric", default="score", help="what to compare (default score)")
    parser.add_argument("--margin", type=float, default=0.0, help="how much worse the challenger may be")
    parser.add_argument("--promote", default="", help="move this alias to the winner afterwards")
    parser.add_argument(
        "--from-run", default="", help="judge a past evaluation (its parent run id) without running it again, e.g. on another metric"
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        if args.from_run:
            result = evaluation.load(settings.tracking_uri, args.from_run)
            set_name = result.prompt_set
        else:
            chosen = _prompt_set(args, settings)
            set_name = chosen.name
            result = evaluation.evaluate(
                settings.tracking_uri,
                settings.experiment_name,
                args.model,
                [args.champion, *args.challenger],
                chosen,
                settings,
                progress=lambda text: print(text, file=sys.stderr),
            )
        verdict = evaluation.compare(result, args.champion, args.challenger[0], args.metric, args.margin)
    except (UserError, evaluation.EvaluationError, prompt_sets.PromptSetError, registry.RegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one line, never a traceback
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 40):
        print(f"Evaluation of {result.model_name} on prompt set “{set_name}” (run {result.run_id}):")
        print(result.table().drop(columns=["error"] if not any(r.error for r in result.rows) else []).to_string(index=False))
        print()
        print(result.totals_table().to_string(index=False))
    print(result.judge_note)
    print(verdict.sentence(args.champion, args.challenger[0]))
    if args.promote:
        try:
            version, record = evaluation.promote(settings.tracking_uri, result, args.promote, getpass.getuser())
        except evaluation.EvaluationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{args.promote} -> {result.model_name} version {version} ({record})")
    return 1 if verdict.worse else 0


if __name__ == "__main__":
    raise SystemExit(main())
