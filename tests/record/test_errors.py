"""One error family: every error a user can fix derives from GansweepError (and from the built-in it is a kind
of), so the command lines catch it once; the spec's and the setup's are told apart."""

from __future__ import annotations

import pytest

from analysis.load import SweepNotFound
from analysis.pilot import PilotError
from gan.config import ConfigError
from gan.data import DataNotFoundError
from gan.metrics import InceptionWeightsMissing
from gan.registration import PluginError
from record.errors import GansweepError, SetupError, SpecError
from record.folder import FolderBusy, StateDamaged, UntrustedFolder
from sweeps.specfile import parse_spec
from sweeps.tracking.journal import JournalBusy, JournalDamaged, UnsafePath
from sweeps.tunestate import TuneStateDamaged


@pytest.mark.parametrize("error, builtin", [
    (SpecError, ValueError), (ConfigError, ValueError), (PluginError, ValueError),
    (DataNotFoundError, FileNotFoundError), (InceptionWeightsMissing, FileNotFoundError),
    (SweepNotFound, LookupError), (PilotError, Exception),
])
def test_user_errors_derive_from_the_base_and_their_builtin(error, builtin):
    assert issubclass(error, GansweepError) and issubclass(error, builtin)


@pytest.mark.parametrize("error", [UntrustedFolder, FolderBusy, StateDamaged, TuneStateDamaged, JournalDamaged,
                                   UnsafePath, JournalBusy])
def test_what_the_sweep_runs_in_raises_setup_errors_not_spec_errors(error):
    assert issubclass(error, SetupError) and not issubclass(error, SpecError)


def test_a_bug_is_not_a_user_error():
    assert not issubclass(TypeError, GansweepError) and not issubclass(KeyError, GansweepError)


def test_a_bad_spec_raises_a_spec_error_that_names_the_file():
    with pytest.raises(SpecError, match="lab.yaml"):
        parse_spec("name: x\nbase: {}\nparameters: {}\nevaluation: 1\n", source="lab.yaml")


def test_a_spec_file_without_a_name_is_a_spec_error_for_the_report_too(tmp_path):
    from record.folder import spec_label

    path = tmp_path / "nameless.yaml"
    path.write_text("base: {}\n")
    with pytest.raises(SpecError, match="nameless.yaml"):
        spec_label(path, None)
