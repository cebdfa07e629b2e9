"""Data-parallel training on real processes (gloo on 127.0.0.1, one torch thread each): the
gathered gradient, two nodes meeting at the c10d rendezvous, and a whole tiny run on two
processes ending where the single-process run ends."""

import multiprocessing
import socket
import tempfile

import pytest
import torch

from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.experiments import Experiment
from crl_pipelines.images import stratified_split, stratified_subsample
from crl_pipelines.losses.ntxent import NTXentLoss
from crl_pipelines.losses.supcon import SupConLoss
from crl_pipelines.parameters import ParameterError, parse
from crl_pipelines.sampling import SAMPLINGS, PairsSettings
from crl_pipelines.sources.digits import load_digits_dataset
from crl_pipelines.training.collectives import Shard, sync_batchnorm
from crl_pipelines.training.distributed import DistributedError, run_on_ranks
from crl_pipelines.training.trainer import train_encoder
from crl_pipelines.training_settings import DistributedSettings, TrainingSettings

CPU = torch.device("cpu")
LABELS = [0, 1, 2, 0, 1]  # five rows: shares of 3 and 2, and repeated labels for SupCon
# Two processes sum in another order than one (batch-norm statistics, parameter gradients), so
# weights differ by rounding that the steps amplify: these runs end within 8e-6 of the
# single-process weights (under 1 % of one Adam step of 1e-3; the tolerance is 10 % of one).
# Without sync batch norm the same run ends ~0.1 away. Long runs amplify rounding like any
# perturbation: docs/distributed_training.md.
TOLERANCE = 1e-4

pytestmark = pytest.mark.processes  # process groups: the full suite only


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One torch thread here and in every process the test starts (the machine has two cores)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_run(world=1, nnodes=1, endpoint=None, epochs=2, sampling="class_pairs", loss="supcon"):
    """Digits (8×8), a small CNN, batches of 20 class pairs or 15 images: seconds on a CPU."""
    digits = stratified_subsample(load_digits_dataset(), 120, seed=0)
    train, validation = stratified_split(digits, 0.25, seed=0)
    pairs = PairsSettings(epochs=epochs, pairs_per_class=2, batch_size=15)
    plan = SAMPLINGS[sampling].make_plan(train, pairs, None)
    distributed = DistributedSettings(
        nproc_per_node=world, nnodes=nnodes, rdzv_endpoint=endpoint, sync_batchnorm=True
    )
    experiment = Experiment("tiny", loss, {}, sampling,
                            ModelSettings(arch="small_cnn", embedding_dim=8),
                            TrainingSettings(distributed=distributed))  # fmt: skip
    return train, validation, plan, experiment


def weights(encoder):
    return torch.cat([value.flatten().float() for value in encoder.state_dict().values()])


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_settings_are_checked_and_name_the_dotted_parameter():
    assert parse(TrainingSettings, {}, "training").distributed.world == 1
    with pytest.raises(ParameterError, match=r"^parameter `training.distributed.rdzv_endpoint` is "
                       r"needed when nnodes > 1"):  # fmt: skip
        parse(TrainingSettings, {"distributed": {"nnodes": 2}}, "training")
    with pytest.raises(ParameterError, match=r"^parameter `training.distributed.rdzv_endpoint` "
                       r"should be host:port"):  # fmt: skip
        parse(TrainingSettings, {"distributed": {"rdzv_endpoint": "node0"}}, "training")
    settings = {"nproc_per_node": 4, "nnodes": 2, "rdzv_endpoint": "node0:29400"}
    assert parse(DistributedSettings, settings, "training.distributed").world == 8


def test_shares_are_contiguous_and_cover_the_batch_in_order():
    batch = torch.arange(5)
    shares = [Shard(rank, 2).take(batch) for rank in range(2)]
    assert [share.tolist() for share in shares] == [[0, 1, 2], [3, 4]]
    assert Shard().take(batch) is batch


def gradients(shard, device):
    """This rank's share of a seeded batch through the gathered NT-Xent and SupCon losses, and
    through batch norm over all ranks: the gradients of its rows."""
    del device
    generator = torch.Generator().manual_seed(0)
    anchors, positives = torch.randn(2, len(LABELS), 4, generator=generator, dtype=torch.float64)
    labels = shard.take(torch.tensor(LABELS))
    result = {}
    for loss in (NTXentLoss(), SupConLoss()):
        mine = [shard.take(x).clone().requires_grad_() for x in (anchors, positives)]
        shard.wrap(loss)(*mine, labels).backward()
        result[type(loss).__name__] = [x.grad.numpy() for x in mine]
    norm = torch.nn.Sequential(torch.nn.BatchNorm1d(4)).double()
    norm = sync_batchnorm(norm, CPU) if shard.world > 1 else norm
    mine = shard.take(anchors).clone().requires_grad_()
    shard.wrap(NTXentLoss())(norm(mine), shard.take(positives), labels).backward()
    result["batch_norm"] = [mine.grad.numpy(), norm[0].running_var.numpy()]
    return result  # arrays: what a process returns is pickled


def test_gathered_gradients_equal_the_single_process_rows(tmp_path, monkeypatch):
    """Two ranks (shares of 3 and 2 rows): each rank's gradient is its rows of the
    single-process full-batch gradient, for NT-Xent, SupCon, and through sync batch norm. The
    launcher's per-rank folders are gone afterwards (not one left in the temporary folder)."""
    whole = gradients(Shard(), CPU)
    settings = DistributedSettings(nproc_per_node=2)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    by_rank = run_on_ranks(gradients, (), settings, device=CPU, run_id="gradients")
    assert list(tmp_path.iterdir()) == []
    for name, (anchor_grad, second) in whole.items():
        anchor_grad, second = torch.as_tensor(anchor_grad), torch.as_tensor(second)
        got = [[torch.as_tensor(x) for x in by_rank[rank][name]] for rank in range(2)]
        torch.testing.assert_close(anchor_grad[:3], got[0][0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(anchor_grad[3:], got[1][0], rtol=1e-12, atol=1e-12)
        if name == "batch_norm":  # running variance of the whole batch on every rank
            torch.testing.assert_close(got[0][1], second, rtol=1e-12, atol=1e-12)
        else:
            torch.testing.assert_close(torch.cat([got[0][1], got[1][1]]), second, rtol=1e-12,
                                       atol=1e-12)  # fmt: skip


def test_two_ranks_train_the_single_process_model(tmp_path):
    """The same tiny run on one process and on two (sync batch norm) ends with the same weights
    within TOLERANCE, the same history and step trace, and a checkpoint a single process resumes."""
    train, validation, plan, one = tiny_run()
    _, _, _, two = tiny_run(world=2)
    single, single_progress = train_encoder(train, plan, one, seed=0, validation=validation)
    path = tmp_path / "checkpoint.pt"
    shared, progress = train_encoder(train, plan, two, seed=0, validation=validation,
                                     checkpoint_path=path)  # fmt: skip
    assert (weights(shared) - weights(single)).abs().max() < TOLERANCE
    assert shared.training_record == single.training_record
    for rows, expected in ((progress.history, single_progress.history),
                           (progress.steps, single_progress.steps)):  # fmt: skip
        assert [list(row) for row in rows] == [list(row) for row in expected]
        for row, reference in zip(rows, expected, strict=True):
            assert row["loss"] == pytest.approx(reference["loss"], rel=1e-5)
    norms = [row["grad_norm"] for row in progress.steps]  # Adam hides a scale: the norm shows it
    assert norms == pytest.approx([row["grad_norm"] for row in single_progress.steps], rel=1e-4)
    resumed, _ = train_encoder(train, plan, one, seed=0, checkpoint_path=path)  # nothing left
    assert torch.equal(weights(resumed), weights(shared))


@pytest.mark.parametrize(("sampling", "loss"), [("augmented_views", "ntxent"),
                                                ("looc_views", "looc")])  # fmt: skip
def test_two_ranks_draw_the_single_process_views(sampling, loss):
    """Views of the whole batch are drawn as one process draws them, then shared (15 images:
    shares of 8 and 7): the run ends where the single-process run ends."""
    train, _, plan, one = tiny_run(epochs=1, sampling=sampling, loss=loss)
    _, _, _, two = tiny_run(world=2, epochs=1, sampling=sampling, loss=loss)
    single, single_progress = train_encoder(train, plan, one, seed=0)
    shared, progress = train_encoder(train, plan, two, seed=0)
    assert (weights(shared) - weights(single)).abs().max() < TOLERANCE
    for key, rel in (("loss", 1e-5), ("grad_norm", 1e-4)):
        found = [row[key] for row in progress.steps]
        assert found == pytest.approx([row[key] for row in single_progress.steps], rel=rel), key


def node(endpoint, path, results):
    """One node of a two-node run (one process each): its encoder's weights."""
    torch.set_num_threads(1)
    train, validation, plan, experiment = tiny_run(1, 2, endpoint, epochs=1)
    encoder, _ = train_encoder(train, plan, experiment, seed=0, validation=validation,
                               checkpoint_path=path)  # fmt: skip
    results.put(weights(encoder).numpy())


def test_two_nodes_meet_at_the_rendezvous_and_return_the_same_model(tmp_path):
    """Two launchers (nnodes 2) join the c10d rendezvous on 127.0.0.1; the node without rank 0
    reads the model from rank 0's last checkpoint: both return the same encoder."""
    endpoint, path = f"127.0.0.1:{free_port()}", tmp_path / "checkpoint.pt"
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    other = spawn.Process(target=node, args=(endpoint, path, results))
    other.start()
    node(endpoint, path, results)
    found = [torch.as_tensor(results.get(timeout=60)) for _ in range(2)]
    other.join(timeout=30)
    assert other.exitcode == 0
    assert torch.equal(found[0], found[1])
    train, validation, plan, experiment = tiny_run(epochs=1)
    single, _ = train_encoder(train, plan, experiment, seed=0, validation=validation)
    assert (weights(single) - found[0]).abs().max() < TOLERANCE


def start_ranks(messages):
    """Try to start two ranks from a daemonic process; the error's message."""
    try:
        run_on_ranks(print, (), DistributedSettings(nproc_per_node=2), device=CPU, run_id="x")
    except DistributedError as error:
        messages.put(str(error))


def test_a_daemonic_process_says_how_to_start_ranks():
    spawn = multiprocessing.get_context("spawn")
    messages = spawn.Queue()
    daemon = spawn.Process(target=start_ranks, args=(messages,), daemon=True)
    daemon.start()
    message = messages.get(timeout=60)
    daemon.join(timeout=30)
    assert "daemonic" in message and "DASK_DISTRIBUTED__WORKER__DAEMON=False" in message
