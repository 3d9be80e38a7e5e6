//! kaon over smoltcp's in-memory interface, in-process: the example's peer (no kernel stack
//! on its side) opens a data channel with a kaon-std peer and echoes its messages.

#[path = "../examples/smoltcp_bridge.rs"]
mod smoltcp_bridge;

#[test]
fn kaon_over_smoltcp_serves_a_data_channel_to_a_kaon_std_peer() {
    let opened = smoltcp_bridge::demo(20).expect("echoes");
    println!("over smoltcp: channel open in {opened:?}");
}
