//! A peer linked to an open cart: who it is ([`PeerContext`]), its Automerge sync state, and
//! whether a sync message for it waits in its connection's queue.
//!
//! Changes do not generate sync messages: they mark the link due (`Link::queue`) and post one
//! [`Outbound::SyncDue`] to the connection; the connection's writer asks for the message when
//! the socket has room (`Link::due_message`), so however many changes arrive meanwhile, the
//! peer gets one message with all of them. A peer that announced a storage id keeps its sync
//! state across connections (`Link::open`, `Link::save_sync_state`).

use automerge::sync::{Message as AutomergeSync, State as SyncState, SyncDoc};
use automerge::Automerge;
use cart_core::wire::{self as protocol, Message};
use cart_core::CartId;

use crate::mailbox::{Mailbox, Outbound};
use crate::open_carts::Hold;
use crate::secret::{CartKey, SecretHash};
use crate::store::DocStore;

/// Who is sending: one joined connection.
#[derive(Debug, Clone)]
pub struct PeerContext {
    /// Unique per connection for the life of the process.
    pub conn_id: u64,
    /// The peer id the connection joined with.
    pub peer_id: String,
    /// The peer's storage id, when it announced one and is not ephemeral.
    pub storage_id: Option<String>,
    /// The key from the WebSocket URL.
    pub key: CartKey,
    /// Where its messages go.
    pub mailbox: Mailbox,
}

/// Whether a sync message for a link waits in its connection's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outgoing {
    /// Nothing is queued; the next change queues an [`Outbound::SyncDue`].
    Idle,
    /// An [`Outbound::SyncDue`] is queued; more changes need nothing more, the message is
    /// generated when the writer gets to it.
    Queued {
        /// The peer sent a sync message that must be answered even when there is nothing new
        /// (the heartbeat contract, see the crate README).
        answer: bool,
    },
}

/// One peer linked to a cart, keeping open the cart's hub `H` while it is linked.
pub(crate) struct Link<H> {
    /// The peer id the connection joined with.
    pub(crate) peer_id: String,
    storage_id: Option<String>,
    /// The hash of the key the peer linked with.
    pub(crate) secret: SecretHash,
    /// Where the peer's messages go.
    pub(crate) mailbox: Mailbox,
    /// The Automerge sync state of the peer.
    pub(crate) sync: SyncState,
    outgoing: Outgoing,
    /// The encoded sync state last saved (or loaded), to skip identical writes.
    saved: Option<Vec<u8>>,
    /// Keeps the cart open while the peer is linked; dropping the link releases it.
    _open: Hold<H>,
}

/// A sync message that tells the peer our heads, what we need and a summary of what we have,
/// with no changes: the answer to a peer's sync message when Automerge has nothing new to say
/// (its `generate_sync_message` returns `None` then). Made from a copy of the link's state, so
/// the real state is unchanged; Automerge always answers a state that has not responded yet.
fn status_message(doc: &Automerge, sync: &SyncState) -> Option<AutomergeSync> {
    let mut copy = sync.clone();
    copy.have_responded = false;
    copy.their_have = None;
    copy.their_need = None;
    doc.generate_sync_message(&mut copy)
}

impl<H> Link<H> {
    /// The link of `peer`, whose key hashes to `secret`, to `cart`, holding the cart open with
    /// `open`. Starts from the sync state `store` saved for the peer's storage id, if any; a
    /// state that does not load or decode is logged and the link starts afresh.
    pub(crate) async fn open(
        store: &(impl DocStore + ?Sized),
        cart: CartId,
        peer: &PeerContext,
        secret: SecretHash,
        open: Hold<H>,
    ) -> Link<H> {
        let mut sync = SyncState::new();
        let mut saved = None;
        if let Some(storage_id) = &peer.storage_id {
            match store.load_sync_state(storage_id, &cart).await {
                Ok(Some(bytes)) => match SyncState::decode(&bytes) {
                    Ok(state) => {
                        sync = state;
                        saved = Some(bytes);
                    }
                    Err(e) => {
                        tracing::warn!(%cart, error = %e, "ignoring an undecodable sync state")
                    }
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(%cart, error = %e, "could not load a sync state"),
            }
        }
        Link {
            peer_id: peer.peer_id.clone(),
            storage_id: peer.storage_id.clone(),
            secret,
            mailbox: peer.mailbox.clone(),
            sync,
            outgoing: Outgoing::Idle,
            saved,
            _open: open,
        }
    }

    /// Marks a sync message about `cart` due, posting an [`Outbound::SyncDue`] unless one is
    /// queued already; `answer` when the peer must get a message even if there is nothing new.
    pub(crate) fn queue(&mut self, cart: CartId, answer: bool) {
        match &mut self.outgoing {
            Outgoing::Queued { answer: queued } => *queued |= answer,
            Outgoing::Idle => {
                if self.mailbox.post(Outbound::SyncDue(cart)) {
                    self.outgoing = Outgoing::Queued { answer };
                }
            }
        }
    }

    /// The sync message due for this link, generated from `doc`, cart `cart`, as sent by
    /// `server`; marks the link idle. `None` when none was queued or there is nothing to say.
    pub(crate) fn due_message(
        &mut self,
        server: &str,
        cart: CartId,
        doc: &Automerge,
    ) -> Option<Message> {
        let Outgoing::Queued { answer } = std::mem::replace(&mut self.outgoing, Outgoing::Idle)
        else {
            return None;
        };
        let message = doc
            .generate_sync_message(&mut self.sync)
            .or_else(|| answer.then(|| status_message(doc, &self.sync)).flatten())?;
        Some(Message::Sync(protocol::Sync {
            sender_id: server.to_string(),
            target_id: self.peer_id.clone(),
            document_id: cart.to_string(),
            data: message.encode(),
        }))
    }

    /// Saves the peer's sync state for `cart` in `store` when the peer has a storage id and the
    /// state changed since it was last saved. A failure is logged; the state is saved again
    /// next time.
    pub(crate) async fn save_sync_state(&mut self, cart: CartId, store: &(impl DocStore + ?Sized)) {
        let Some(storage_id) = &self.storage_id else {
            return;
        };
        let encoded = self.sync.encode();
        if self.saved.as_ref() == Some(&encoded) {
            return;
        }
        match store
            .save_sync_state(storage_id, &cart, encoded.clone())
            .await
        {
            Ok(()) => self.saved = Some(encoded),
            Err(e) => tracing::warn!(%cart, error = %e, "could not save a sync state"),
        }
    }
}
