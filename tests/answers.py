"""Answer sets shared by the hook unit tests and the end-to-end bake tests."""

# (option, bad value, part of the rule the error message must state)
INVALID_ANSWERS = [
    ("project_name", "  ", "must not be empty"),
    ("project_slug", "Customer Churn", "lowercase letters, digits and single hyphens"),
    ("project_slug", "churn-", "not ending with a hyphen"),
    ("project_slug", "a--b", "single hyphens"),
    ("package_name", "customer-churn", "must be a Python identifier"),
    ("package_name", "class", "must be a Python identifier"),
    ("package_name", "json", "would shadow"),
    ("package_name", "mlflow", "would shadow"),
    ("description", "two\nlines", "single non-empty line"),
    ("description", "tab\there", "printable characters"),
    ("author_name", "bell\x07", "printable characters"),
    ("azure_location", "westeuropa", "did you mean 'westeurope'"),
    ("azure_location", "mars", "must be an Azure region name"),
    ("resource_prefix", "a", "2-8 lowercase letters or digits"),
    ("resource_prefix", "toolongpx", "2-8 lowercase letters or digits"),
    ("resource_prefix", "1abc", "starting with a letter"),
    ("resource_prefix", "ab-c", "2-8 lowercase letters or digits"),
    ("environments", "dev,Prod", "'Prod': each environment must be 1-7"),
    ("environments", "dev,,prod", "'': each environment must be 1-7"),
    ("environments", "dev,development", "'development'"),
    ("environments", "dev,dev", "names must be unique"),
    ("environments", "a,b,c,d,e,f", "at most 5 environments"),
    ("gpu_vm_size", "Standard_D4s_v3", "GPU (N-series)"),
    ("cpu_vm_size", "Standard_NC6", "non-GPU"),
    ("cpu_vm_size", "d4s", "non-GPU"),
    ("gpu_max_nodes", "0", "whole number from 1 to 100"),
    ("gpu_max_nodes", "two", "whole number from 1 to 100"),
    ("cpu_max_nodes", "101", "whole number from 1 to 100"),
    ("ci_provider", "gitlab", "must be one of github, azure-devops, both"),
    ("network_isolation", "none", "must be one of private, public"),
    ("task", "ranking", "must be one of classification, regression"),
    ("primary_metric", "mse", "must be one of roc_auc"),
    (
        "primary_metric",
        "rmse",
        "a regression metric, but task is classification: use roc_auc, f1, accuracy, "
        "precision or recall",
    ),
    ("model_family", "svm", "must be one of gradient_boosting"),
    (
        "model_family",
        "linear_regression",
        "regression only, but task is classification: use gradient_boosting, random_forest "
        "or logistic_regression",
    ),
    ("use_automl", "maybe", "must be one of no, yes"),
    ("python_version", "3.13", "must be one of 3.11, 3.12"),
    ("sensitive_features", "age,1st-contract", "'1st-contract': each must be a column name"),
    ("sensitive_features", "age,,contract", "'': each must be a column name"),
    ("sensitive_features", "age,contract,age", "'age' named more than once"),
]

# Answers wrong only together with task=regression: (option, bad value, part of the rule).
INVALID_FOR_REGRESSION = [
    (
        "primary_metric",
        "roc_auc",
        "a classification metric, but task is regression: use rmse, mae, r2 or mape",
    ),
    ("primary_metric", "f1", "a classification metric, but task is regression"),
    (
        "model_family",
        "logistic_regression",
        "classification only, but task is regression: use gradient_boosting, random_forest "
        "or linear_regression",
    ),
]

# A curated matrix: every option value appears at least once, combined where they interact.
MATRIX = {
    "default": {},
    "azure-devops-public-sandbox-f1-forest-own-package": {
        "package_name": "churn_model",
        "ci_provider": "azure-devops",
        "network_isolation": "public",
        "environments": "dev,test",
        "primary_metric": "f1",
        "model_family": "random_forest",
    },
    "regression-azure-devops-public-mae-forest-own-package": {
        "project_name": "Taxi Fares",
        "package_name": "fare_model",
        "task": "regression",
        "ci_provider": "azure-devops",
        "network_isolation": "public",
        "environments": "dev,test",
        "primary_metric": "mae",
        "model_family": "random_forest",
    },
    "both-ci-automl-logreg-three-envs": {
        "ci_provider": "both",
        "use_automl": "yes",
        "model_family": "logistic_regression",
        "primary_metric": "accuracy",
        "environments": "dev,staging,prod",
        "azure_location": "eastus2",
    },
    "py312-single-env-custom-names-a100": {
        "python_version": "3.12",
        "project_name": "Fraud Detection",
        "resource_prefix": "fr4ud",
        "environments": "sandbox",
        "primary_metric": "recall",
        "gpu_vm_size": "Standard_NC24ads_A100_v4",
        "gpu_max_nodes": "8",
        "cpu_max_nodes": "10",
    },
    "precision-custom-package": {
        "project_name": "Loan Default",
        "package_name": "loan_risk",
        "primary_metric": "precision",
        "sensitive_features": "age, contract",
    },
}
