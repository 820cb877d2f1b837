"""Synthesis: mined chains -> executable workflows with their dataflow wired.

Public API
----------
:func:`synthesise`        sample every chain and build its :class:`~chainmine.library.model.WorkflowTemplate`
:func:`build_workflow`    one chain + its sampled occurrences -> a validated workflow
:func:`infer_dataflow`    bindings, constants, inputs and map steps from sampled occurrences
:func:`dataflow_edges`    which steps of candidate chains pass data (used for cohesion)
:class:`CategoryClassifier`, :func:`categorize`   categories from namespaces or a library

Examples
--------
>>> from chainmine.miner.synthesis import step_ids
>>> step_ids(["get_user_details", "get_reservation_details"])
['get_user', 'get_reservation']
"""

from chainmine.miner.synthesis.build import build_workflow, dataflow_edges, synthesise
from chainmine.miner.synthesis.categories import CategoryClassifier, categorize, classifier_from_library
from chainmine.miner.synthesis.dataflow import Dataflow, infer_dataflow
from chainmine.miner.synthesis.naming import step_ids, workflow_name
from chainmine.miner.synthesis.sampling import CallRecord, Occurrence, sample_occurrences

__all__ = ["CallRecord", "CategoryClassifier", "Dataflow", "Occurrence", "build_workflow", "categorize",
           "classifier_from_library", "dataflow_edges", "infer_dataflow", "sample_occurrences", "step_ids",
           "synthesise", "workflow_name"]
