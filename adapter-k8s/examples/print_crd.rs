//! Prints the SparkJob CustomResourceDefinition, as `sparkq crd` does:
//! `cargo run -p sparkq-adapter-k8s --example print_crd | kubectl apply -f -`.

fn main() {
    print!("{}", sparkq_adapter_k8s::crd_yaml());
}
