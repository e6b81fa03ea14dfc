"""What each ``selrob`` command does, given its parsed arguments (:func:`selrob.cli.build_parser`):
one function per command, looked up in :data:`COMMANDS` by :func:`selrob.cli.main`."""

from __future__ import annotations

import argparse
from typing import Any

from selrob.arguments import training_overrides
from selrob.config import DEFAULT_DATASET
from selrob.errors import SelrobError


def _cmd_train(args: argparse.Namespace) -> None:
    from selrob.config import resolve_config
    from selrob.training import train_run

    config = resolve_config(args.dataset, args.arch, args.alpha, args.seed, args.smoke, **training_overrides(args))
    run = train_run(config, args.runs_dir, args.data_dir, args.device)
    summary = run.summary()
    print(f"{run.path}: test accuracy {summary['test_accuracy']:.4f}, mean selectivity {summary['mean_selectivity']:.4f}")


def _cmd_sweep(args: argparse.Namespace) -> None:
    from selrob import paths
    from selrob.config import sweep_configs
    from selrob.pipeline.sweep import SlurmOptions, run_sweep
    from selrob.store.runs import Run

    seeds = None if args.seeds is None else [s for group in args.seeds for s in group]
    configs = sweep_configs(args.dataset, args.arch, args.alpha, seeds, args.smoke, **training_overrides(args))
    slurm = SlurmOptions(args.slurm_partition, args.slurm_timeout_min, args.gpus_per_node, args.cpus_per_task)
    if args.together is False and args.max_together is not None:
        raise SelrobError("--max-together applies to runs trained together; drop it or --separate")
    root = paths.runs_dir(args.runs_dir)
    already = sum(Run.for_config(config, root).is_finished() for config in configs)
    runs = run_sweep(configs, executor=args.executor, workers=args.workers, runs_root=args.runs_dir,
                     data_root=args.data_dir, device=args.device, slurm=slurm, wait=not args.no_wait,
                     together=args.together,
                     **({} if args.max_together is None else {"max_together": args.max_together}))
    print(f"{sum(r.is_finished() for r in runs)} of {len(runs)} runs finished under {root} "
          f"({already} of them before this command)")


def _cmd_train_imagenet(args: argparse.Namespace) -> None:
    from selrob import paths
    from selrob.training.data_parallel import ImageNetTrainConfig, register_target, train_imagenet

    config = ImageNetTrainConfig(args.arch, args.training, seed=args.seed, epochs=args.epochs,
                                 batch_size=args.batch_size, lr=args.lr)
    if args.workers < 0:
        raise SelrobError(f"--workers must be 0 or more, got {args.workers}")
    imagenet = args.imagenet_dir or paths.data_dir(args.data_dir) / "imagenet"
    out = args.out_dir or paths.runs_dir(args.runs_dir) / "imagenet" / f"{args.arch}-{args.training}-seed{args.seed}"
    if args.slurm:
        from selrob.training.slurm import ClusterOptions, submit_imagenet

        if args.nodes < 1 or args.gpus_per_node < 1:
            raise SelrobError(f"--nodes and --gpus-per-node must be at least 1, got {args.nodes} and {args.gpus_per_node}")
        entry = register_target(config, args.register, args.runs_dir)
        cluster = ClusterOptions(args.nodes, args.gpus_per_node, partition=args.slurm_partition,
                                 timeout_min=args.slurm_timeout_min)
        job = submit_imagenet(config, imagenet, out, cluster, workers=args.workers, register=entry.name,
                              runs_root=args.runs_dir)
        print(f"submitted job {job.job_id} ({args.nodes} x {args.gpus_per_node} GPUs); logs in {out / '_submitit'}")
        return
    final = train_imagenet(config, imagenet, out, device=args.device, workers=args.workers, register=args.register,
                           runs_root=args.runs_dir)
    print(f"{final}: trained; registered in the zoo (`selrob zoo list`)")


def _cmd_reproduce(args: argparse.Namespace) -> None:
    from selrob.pipeline.reproduce import ReproduceOptions, reproduce
    from selrob.studies import select_studies

    options = ReproduceOptions(args.smoke, args.workers, args.runs_dir, args.data_dir, args.figures_dir,
                               args.outputs_dir, args.device)
    print(reproduce(select_studies(args.study), options))


def _named_sources(args: argparse.Namespace) -> list[Any]:
    """The zoo models, models and pairs' models named by ``--zoo``, ``--model`` and ``--pair``."""
    from selrob.user_models import get_model, pair_sources
    from selrob.zoo.sources import zoo_model

    return [*(zoo_model(name, args.runs_dir) for name in args.zoo or ()),
            *(get_model(name, args.runs_dir) for name in args.model or ()),
            *(source for name in args.pair or () for source in pair_sources(name, args.runs_dir))]


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from selrob.evaluations.registry import (EvaluationSettings, get_evaluation, registered_evaluations,
                                            registered_parameters)
    from selrob.stats import summarize
    from selrob.tables.evaluations import evaluation_table, headline_table
    from selrob.tables.runs import load_sweep

    if args.list or args.name is None:
        print("\n".join(f"{name:<28} {evaluation.description}" for name, evaluation in registered_evaluations().items()))
        return
    evaluation = get_evaluation(args.name)
    given = {name: value for name, group in registered_parameters().items() if (value := group.from_flags(args)) is not None}
    foreign = [name for name in given if registered_parameters()[name] not in evaluation.parameters]
    if foreign:
        raise SelrobError(f"{evaluation.name} does not read the {', '.join(n.replace('_', ' ') for n in foreign)} "
                          "flags; see selrob evaluate --help for which evaluations read them")
    settings = EvaluationSettings(smoke=args.smoke, data_root=None if args.data_dir is None else str(args.data_dir),
                                  device=args.device, parameters=given)
    named = [flag for flag in ("zoo", "model", "pair") if getattr(args, flag) is not None]
    if named:
        from selrob.store.sources import first_test_images

        selecting = {n: v for n, v in training_overrides(args).items() if n != "max_eval_samples"}
        chosen = [flag for flag, given in (("--alpha", args.alpha), ("--seeds", args.seeds), ("--arch", args.arch),
                                           ("--smoke", args.smoke), ("--dataset", args.dataset != DEFAULT_DATASET),
                                           *((f"--{n.replace('_', '-')}", v) for n, v in selecting.items()))
                  if given]
        if chosen:
            raise SelrobError(f"{' '.join(chosen)} choose a sweep's runs, and {' '.join('--' + n for n in named)} "
                              "names the models instead (their dataset is their own): drop one or the other")
        targets: Any = [first_test_images(source, args.max_eval_samples) for source in _named_sources(args)]
        # A pairwise evaluation pairs the models named among themselves (standard with robust).
        sources, by = (targets if evaluation.pairwise else None), "model"
    else:
        run_seeds = None if args.seeds is None else [s for group in args.seeds for s in group]
        targets = load_sweep(args.dataset, args.arch, args.alpha, run_seeds, args.smoke, args.runs_dir, args.data_dir,
                             **training_overrides(args)).runs
        # A pairwise evaluation's first members are the alpha = 0 runs of the same seeds (the masking
        # check), trained without adversarial training (the standard partners of robust runs).
        standard = {k: v for k, v in training_overrides(args).items() if not k.startswith("adversarial_")}
        sources = (load_sweep(args.dataset, args.arch, 0.0, run_seeds, args.smoke, args.runs_dir, args.data_dir,
                              **standard).runs
                   if evaluation.pairwise else None)
        by = "alpha"
    table = evaluation_table(evaluation, targets, settings, sources=sources)
    if named and evaluation.pairwise and table.empty:
        raise SelrobError(f"{evaluation.name} compares a standard with a robust model, and none of the models named is "
                          "a robust one with its standard partner: name a pair of yours (--pair NAME), or both models")
    if args.output is not None:
        from selrob.io import write_text

        write_text(args.output, table.to_csv(index=False))
    value = evaluation.value
    summary = summarize(headline_table(evaluation, table), by, [value])
    print(f"{evaluation.name}: {evaluation.description}; {len(table)} rows of {len(targets)} {'models' if named else 'runs'}")
    print(f"{value} {evaluation.headline_label}, per {by} (mean and 95% CI over {'seeds' if by == 'alpha' else 'rows'}):")
    print(f"  {by:>6} {'n':>3} {value + ' [95% CI]':>30}")
    for _, row in summary.iterrows():
        label = f"{row[by]:>6g}" if by == "alpha" else f"{row[by]:>6}"
        print(f"  {label} {int(row['n']):>3} {row[value]:>12.4f} [{row[value + '_ci_low']:.4f}, "
              f"{row[value + '_ci_high']:.4f}]")


def _cmd_claims(args: argparse.Namespace) -> None:
    import pandas as pd

    from selrob.io import write_text
    from selrob.pipeline.reproduce import ReproduceOptions
    from selrob.studies import select_studies

    options = ReproduceOptions(smoke=args.smoke, runs_dir=args.runs_dir, data_dir=args.data_dir)
    tables = []
    for study in select_studies(args.study, args.dataset):
        table, markdown = study.claims(options, args.dataset, None)
        tables.append(table.assign(study=study.name))
        print(markdown)
    if args.csv is not None:
        write_text(args.csv, pd.concat(tables, ignore_index=True).to_csv(index=False))


def _cmd_figures(args: argparse.Namespace) -> None:
    from selrob.studies.docs import figure_listing

    print(figure_listing(args.study))


def _cmd_docs(args: argparse.Namespace) -> None:
    from selrob.studies.docs import update_documents

    changed = update_documents(write=not args.check)
    print("\n".join(f"{'out of date' if args.check else 'wrote'}: {name}" for name in changed) or "up to date")
    if args.check and changed:
        raise SystemExit(1)


def _cmd_results(args: argparse.Namespace) -> None:
    from selrob.data import check_dataset
    from selrob.models import check_arch
    from selrob.tables.runs import results_report

    if args.dataset is not None:
        check_dataset(args.dataset)
    if args.arch is not None:
        check_arch(args.arch)
    if args.runs_dir is not None and not args.runs_dir.is_dir():
        raise SelrobError(f"runs folder {args.runs_dir} does not exist")
    print(results_report(args.runs_dir, args.dataset, args.arch))


def _cmd_data(args: argparse.Namespace) -> None:
    if args.data_command == "download":
        from selrob.data import download_dataset

        print(download_dataset(args.dataset, args.data_dir))
    elif args.data_command == "download-c":
        from selrob.data.corrupted import download_corrupted

        print(download_corrupted(args.dataset, args.data_dir))
    else:
        from selrob.corruptions.generate import make_corrupted_set

        print(make_corrupted_set(args.dataset, args.data_dir, args.corruptions, args.seed, args.workers))


def _cmd_zoo(args: argparse.Namespace) -> None:
    from selrob.zoo.commands import download_models, import_model, zoo_table

    if args.zoo_command == "list":
        print(zoo_table(args.runs_dir))
    elif args.zoo_command == "download":
        print("\n".join(download_models(args.name, args.runs_dir, args.data_dir)))
    else:
        print(import_model(args.name, args.path, args.runs_dir))


def _cmd_model(args: argparse.Namespace) -> None:
    from selrob.user_models import add_model, remove_model
    from selrob.user_models.commands import model_table

    if args.model_command == "list":
        print(model_table(args.runs_dir))
    elif args.model_command == "remove":
        print(f"removed {remove_model(args.name, args.runs_dir)}")
    else:
        source = add_model(args.name, args.dataset, args.arch, args.weights, args.layers, args.mean, args.std,
                           args.robust, args.runs_dir)
        record = source.record
        print(f"{record.name}: {record.arch} on {record.dataset}, {'robust' if record.robust else 'standard'}, "
              f"weights {record.digest[:12]}; layers {', '.join(record.layers)}; units "
              f"{'every ReLU call' if record.unit_layers is None else 'of those layers'}. Evaluate it: "
              f"selrob evaluate NAME --model {record.name}")


def _cmd_pair(args: argparse.Namespace) -> None:
    from selrob.user_models import add_pair, remove_pair
    from selrob.user_models.commands import pair_table

    if args.pair_command == "list":
        print(pair_table(args.runs_dir))
    elif args.pair_command == "remove":
        print(f"removed {remove_pair(args.name, args.runs_dir)}")
    else:
        add_pair(args.name, args.standard, args.robust, args.runs_dir)
        print(f"{args.name}: {args.standard} (S) / {args.robust} (R); in notebooks 09-13: -p pairs '[\"{args.name}\"]'")


COMMANDS = {"train": _cmd_train, "sweep": _cmd_sweep, "train-imagenet": _cmd_train_imagenet, "evaluate": _cmd_evaluate,
            "reproduce": _cmd_reproduce, "claims": _cmd_claims, "figures": _cmd_figures, "docs": _cmd_docs,
            "results": _cmd_results, "data": _cmd_data, "zoo": _cmd_zoo,
            "model": _cmd_model, "pair": _cmd_pair}
