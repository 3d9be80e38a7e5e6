//! The frame of the media servers that hold every browser session on one
//! [`kaon::peer::Router`] (`broadcast`, `swap-tracks`): the HTTP listener on `--bind`, the UDP
//! socket on `--udp` and one `kaon_tokio` driver for all sessions ([`start`]); HTTP served until
//! Ctrl-C, then every session closed ([`serve_until_ctrl_c`]). What the sessions do is each
//! example's own.
//!
//! ```ignore
//! let frame = router_server::start(&args).await?;
//! // ... the example's server around frame.driver, its events and janitor tasks ...
//! router_server::serve_until_ctrl_c(frame.listener, stats, handler, &driver).await?;
//! ```
#![allow(dead_code)] // each example uses its part

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use hyper::{Request, StatusCode};
use kaon::peer::{PeerConnection, PeerId, Router};
use kaon_tokio::Driver;
use tokio::net::TcpListener;

use crate::{args, web};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What a server starts with.
pub struct Frame {
    /// The HTTP listener on `--bind`.
    pub listener: TcpListener,
    /// Its address.
    pub local: SocketAddr,
    /// The sessions' UDP address.
    pub udp: SocketAddr,
    /// The driver of the sessions' router, on that socket.
    pub driver: Driver<Router>,
}

/// Listens for HTTP, binds the UDP socket and starts the router's driver; says where to point
/// a browser.
pub async fn start(args: &args::ServerArgs) -> Result<Frame> {
    let listener = web::listen(&args.http.to_string()).await?;
    let local = listener.local_addr()?;
    let socket = args.udp_socket(local).await?;
    let udp = socket.local_addr()?;
    let driver = Driver::spawn(Router::new(), vec![socket])?;
    println!("open http://{local}/ in a browser on this machine (Ctrl-C to stop)");
    Ok(Frame {
        listener,
        local,
        udp,
        driver,
    })
}

/// Runs `serve` on a runtime of two worker threads.
pub fn block_on(serve: impl Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(serve)
}

/// Locks `m`, poisoned or not: a panic elsewhere must not take the whole server down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves HTTP, each request through `route(server, request)`, until Ctrl-C; then starts
/// closing every session in `driver`'s router (their peers see them close) and says how many.
/// An error if HTTP stops first.
pub async fn serve_until_ctrl_c<S, R, F>(
    listener: TcpListener,
    stats: Arc<web::Stats>,
    server: Arc<S>,
    route: R,
    driver: &Driver<Router>,
) -> Result<()>
where
    S: Send + Sync + 'static,
    R: Fn(Arc<S>, Request<Bytes>) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = web::Reply> + Send + 'static,
{
    let handler = move |req| route(server.clone(), req);
    let http = web::serve(listener, web::Limits::default(), stats, handler);
    tokio::select! {
        () = http => Err("the HTTP server stopped".into()),
        r = tokio::signal::ctrl_c() => {
            r?;
            let n = driver
                .call(|router, now| {
                    let ids: Vec<PeerId> = router.iter().map(|(id, _)| id).collect();
                    for id in &ids {
                        if let Some(mut pc) = router.get_mut(*id) {
                            pc.close(now);
                        }
                    }
                    ids.len()
                })
                .await
                .unwrap_or(0);
            println!("closing {n} sessions");
            Ok(())
        }
    }
}

/// Puts a session's connection in the router; `503` if the driver has stopped.
pub async fn insert(
    driver: &Driver<Router>,
    pc: PeerConnection,
) -> std::result::Result<PeerId, (StatusCode, String)> {
    driver
        .call(move |router, _| router.insert(pc).map_err(|e| e.to_string()))
        .await
        .ok_or((
            StatusCode::SERVICE_UNAVAILABLE,
            "the UDP driver has stopped".to_string(),
        ))?
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// Takes the sessions in `gone` out of the router.
pub fn remove(driver: &Driver<Router>, gone: Vec<PeerId>) {
    if !gone.is_empty() {
        driver.post(move |router, _| {
            for id in gone {
                router.remove(id);
            }
        });
    }
}
