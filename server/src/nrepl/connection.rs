//! Keeps one live client and session to a server, reconnecting (with a new session) when the
//! server went away or the address changed. Each new connection gets a new `generation`, so
//! users can drop whatever they knew about the server's state (a restarted server lost it).

use tokio::sync::Mutex;

use super::client::{Client, ClientOptions};
use super::NreplError;

/// A client with its session.
#[derive(Clone)]
pub struct Link {
    pub client: Client,
    pub session: String,
    /// Changes with every new connection.
    pub generation: u64,
}

pub struct Connection {
    options: ClientOptions,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    live: Option<Link>,
    generations: u64,
}

impl Connection {
    pub fn new(options: ClientOptions) -> Self {
        Connection { options, state: Mutex::new(State::default()) }
    }

    /// The current link to `addr`, or a new one when there is none, it closed, or it goes
    /// elsewhere.
    pub async fn link(&self, addr: &str) -> Result<Link, NreplError> {
        let mut state = self.state.lock().await;
        if let Some(live) = &state.live {
            if live.client.addr() == addr && !live.client.is_closed() {
                return Ok(live.clone());
            }
        }
        state.live = None;
        let client = Client::connect(addr, self.options.clone()).await?;
        let session = client.clone_session(None).await?;
        state.generations += 1;
        let link = Link { client, session, generation: state.generations };
        tracing::info!(%addr, generation = link.generation, "connected to nREPL");
        state.live = Some(link.clone());
        Ok(link)
    }
}
