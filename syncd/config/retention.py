"""The `retention:` section: how long the state keeps records that only history needs.

`syncd.state.retention` applies it, at most once a day, at the end of a pass."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Retention(BaseModel):
    # As syncd.config.models.StrictModel (not imported: that module imports this one).
    model_config = ConfigDict(extra="forbid", frozen=True)

    group_history_days: int = Field(
        default=730,
        ge=1,
        description="Days a person's finished stay in a holdout's treated or held-out group "
        "is kept (`syncd report`'s P&L reads them; stays still open are always kept). Two "
        "years covers a year-on-year comparison; a P&L window older than this loses people.",
    )
    removed_member_days: int = Field(
        default=30,
        ge=1,
        description="Days the hashes of members being removed stay in the batch journal "
        "(`batch_members`) of an audience no pass has synced since. Any pass applies its "
        "audience's journal at once, so only audiences dropped from the config (or never "
        "synced again after a crash) keep them; after this many days syncd applies their "
        "journal itself and the removed members leave the state. A month leaves time to put "
        "back an audience removed from the config by mistake.",
    )
    run_days: int = Field(
        default=90,
        ge=1,
        description="Days a run record (`runs`, with its `batches`) is kept after it "
        "finished. A quarter is what `syncd audit` shows by default; an audience's latest "
        "run and its latest successful run are always kept (the next plan and the alerts "
        "compare with them), and so is a run whose requests the network has not settled.",
    )
    quarantine_days: int = Field(
        default=30,
        ge=1,
        description="Days the rows and members refused in a run (`quarantine`: row "
        "numbers, reasons and refused members' keys) are kept after the run finished. They "
        "serve an operator fixing a segment now; a month of them is plenty, and they never "
        "outlive their run.",
    )
    erasure_days: int = Field(
        default=1826,
        ge=1,
        description="Days a finished erasure (`erasures`, `erasure_values`, "
        "`erasure_outcomes`) is kept after it was done. The record is the proof that a "
        "request was honoured, asked for years later; five years outlasts the usual "
        "limitation periods. Erasures not done yet are never deleted. Once a record goes, "
        "its hashes no longer keep the person out of audiences (a suppression list does "
        "that for good).",
    )
