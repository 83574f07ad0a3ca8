fn main() { print!("{}", sparkq_adapter_k8s::crd_yaml()); }
