"""opsloop.yaml as pydantic models.

`load_config(path)` reads and validates the file; any wrong key or value becomes one
`ConfigError` naming the field, what was expected and what came. Settings are built once
at the edge (CLI, server) and passed down; core code never reads ``os.environ``.

The models live in one module per section of the file (`base`, `gate`, `deploy`,
`monitor`, `orchestrate`, `project`); everything is importable from `opsloop.config`.
"""

from __future__ import annotations

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

__all__ = [
    "CONFIG_FILE",
    "ESTIMATED_METRICS",
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
