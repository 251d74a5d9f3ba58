"""opsloop.yaml as pydantic models.

`load_config(path)` reads and validates the file; any wrong key or value becomes one
`ConfigError` naming the field, what was expected and what came. Settings are built once
at the edge (CLI, server) and passed down; core code never reads ``os.environ``.

The models live in one module per section of the file (`base`, `gate`, `deploy`,
`monitor`, `orchestrate`, `ranking`, `project`); everything is importable from `opsloop.config`,
and a name imports only its own section's module on first use (PEP 562): `opsloop drift`
needs `DriftConfig`, not the ~40 models of a project's file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsloop.config.base import (
        CONFIG_FILE,
        LOWER_IS_BETTER,
        TASK_METRICS,
        Duration,
        Task,
        check_cron,
        format_duration,
        parse_duration,
    )
    from opsloop.config.batch import PredictConfig
    from opsloop.config.deploy import (
        AnalysisConfig,
        BatchingConfig,
        DeployConfig,
        ServeConfig,
        UIConfig,
        check_canary_steps,
    )
    from opsloop.config.gate import (
        BudgetConfig,
        GateConfig,
        MetricRule,
        RegressionSetConfig,
        SliceConfig,
    )
    from opsloop.config.monitor import (
        ESTIMATED_METRICS,
        Clock,
        DriftConfig,
        DriftMethod,
        DriftReference,
        EffectSize,
        EstimatedPerformanceConfig,
        FeatureDriftConfig,
        FeatureQualityConfig,
        MaterialityConfig,
        MonitorConfig,
        MonitorQualityConfig,
        MultivariateConfig,
        PerformanceConfig,
        VolumeConfig,
    )
    from opsloop.config.orchestrate import (
        RETRAIN_TRIGGERS,
        AgentConfig,
        LabelsTriggerConfig,
        NewDataConfig,
        NotifyConfig,
        RetrainConfig,
        RetrainOn,
        WebhookConfig,
    )
    from opsloop.config.project import (
        DataConfig,
        FeedbackConfig,
        InboxConfig,
        MlflowServerConfig,
        ProjectConfig,
        QualityConfig,
        SparkConfig,
        SplitConfig,
        StackConfig,
        load_config,
        parse_config,
    )
    from opsloop.config.ranking import HISTORY_SLICE, RankingConfig

# name → the section module that defines it
_MODULES: dict[str, str] = {
    "AgentConfig": "orchestrate",
    "AnalysisConfig": "deploy",
    "BatchingConfig": "deploy",
    "BudgetConfig": "gate",
    "CONFIG_FILE": "base",
    "Clock": "monitor",
    "DataConfig": "project",
    "DeployConfig": "deploy",
    "DriftConfig": "monitor",
    "DriftMethod": "monitor",
    "DriftReference": "monitor",
    "Duration": "base",
    "ESTIMATED_METRICS": "monitor",
    "EffectSize": "monitor",
    "EstimatedPerformanceConfig": "monitor",
    "FeatureDriftConfig": "monitor",
    "FeatureQualityConfig": "monitor",
    "FeedbackConfig": "project",
    "GateConfig": "gate",
    "HISTORY_SLICE": "ranking",
    "InboxConfig": "project",
    "LOWER_IS_BETTER": "base",
    "LabelsTriggerConfig": "orchestrate",
    "MaterialityConfig": "monitor",
    "MetricRule": "gate",
    "MlflowServerConfig": "project",
    "MonitorConfig": "monitor",
    "MonitorQualityConfig": "monitor",
    "MultivariateConfig": "monitor",
    "NewDataConfig": "orchestrate",
    "NotifyConfig": "orchestrate",
    "PerformanceConfig": "monitor",
    "PredictConfig": "batch",
    "ProjectConfig": "project",
    "QualityConfig": "project",
    "RankingConfig": "ranking",
    "RETRAIN_TRIGGERS": "orchestrate",
    "RegressionSetConfig": "gate",
    "RetrainConfig": "orchestrate",
    "RetrainOn": "orchestrate",
    "ServeConfig": "deploy",
    "SliceConfig": "gate",
    "SparkConfig": "project",
    "SplitConfig": "project",
    "StackConfig": "project",
    "TASK_METRICS": "base",
    "Task": "base",
    "UIConfig": "deploy",
    "VolumeConfig": "monitor",
    "WebhookConfig": "orchestrate",
    "check_canary_steps": "deploy",
    "check_cron": "base",
    "format_duration": "base",
    "load_config": "project",
    "parse_config": "project",
    "parse_duration": "base",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'opsloop.config' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"opsloop.config.{module}"), name)
    globals()[name] = value  # once
    return value


__all__ = [
    "CONFIG_FILE",
    "ESTIMATED_METRICS",
    "HISTORY_SLICE",
    "LOWER_IS_BETTER",
    "RETRAIN_TRIGGERS",
    "TASK_METRICS",
    "AgentConfig",
    "AnalysisConfig",
    "BatchingConfig",
    "BudgetConfig",
    "Clock",
    "DataConfig",
    "DeployConfig",
    "DriftConfig",
    "DriftMethod",
    "DriftReference",
    "Duration",
    "EffectSize",
    "EstimatedPerformanceConfig",
    "FeatureDriftConfig",
    "FeatureQualityConfig",
    "FeedbackConfig",
    "GateConfig",
    "InboxConfig",
    "LabelsTriggerConfig",
    "MaterialityConfig",
    "MetricRule",
    "MlflowServerConfig",
    "MonitorConfig",
    "MonitorQualityConfig",
    "MultivariateConfig",
    "NewDataConfig",
    "NotifyConfig",
    "PerformanceConfig",
    "PredictConfig",
    "ProjectConfig",
    "QualityConfig",
    "RankingConfig",
    "RegressionSetConfig",
    "RetrainConfig",
    "RetrainOn",
    "ServeConfig",
    "SliceConfig",
    "SparkConfig",
    "SplitConfig",
    "StackConfig",
    "Task",
    "UIConfig",
    "VolumeConfig",
    "WebhookConfig",
    "check_canary_steps",
    "check_cron",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
]
