"""GPU and CPU training clusters: scale to zero, no public IP, no local auth, in the VNet."""

from __future__ import annotations

from .cdk import Construct, azurerm
from .config import ClusterConfig, EnvironmentConfig
from .identity import ComputeIdentity
from .naming import Names
from .network import Network
from .workspace import Workspace


class Compute(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        names: Names,
        workspace: Workspace,
        network: Network,
        identity: ComputeIdentity,
    ) -> None:
        super().__init__(scope, id_)
        self._config = config
        self._workspace = workspace
        self._network = network
        self._identity = identity
        self.gpu_cluster = self._cluster("gpu-cluster", names.gpu_cluster, config.gpu_cluster)
        self.cpu_cluster = self._cluster("cpu-cluster", names.cpu_cluster, config.cpu_cluster)

    def _cluster(
        self, id_: str, name: str, cluster: ClusterConfig
    ) -> azurerm.machine_learning_compute_cluster.MachineLearningComputeCluster:
        compute = azurerm.machine_learning_compute_cluster
        return compute.MachineLearningComputeCluster(
            self,
            id_,
            name=name,
            location=self._config.location,
            machine_learning_workspace_id=self._workspace.workspace.id,
            vm_size=cluster.vm_size,
            vm_priority=cluster.vm_priority,
            scale_settings=compute.MachineLearningComputeClusterScaleSettings(
                # Always scale to zero when idle: nodes cost money only while jobs run.
                min_node_count=0,
                max_node_count=cluster.max_nodes,
                scale_down_nodes_after_idle_duration=cluster.scale_down_after,
            ),
            subnet_resource_id=self._network.training_subnet.id,
            node_public_ip_enabled=False,
            local_auth_enabled=False,
            ssh_public_access_enabled=False,
            identity=compute.MachineLearningComputeClusterIdentity(
                type="UserAssigned", identity_ids=[self._identity.identity.id]
            ),
            # Roles must exist before the first job pulls an image or reads a secret.
            depends_on=self._identity.role_assignments,
        )
