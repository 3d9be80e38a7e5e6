//! The client's handling of responses: success, 401/438 credentials, 300 redirects, and
//! failures by what the request was for.

use super::*;

impl Client {
    /// Handles the STUN client's outcomes.
    pub(super) fn process(&mut self, now: Instant) {
        while let Some(event) = self.stun.poll_event() {
            let Some(at) = self.pending.iter().position(|p| p.id == event.id()) else {
                continue;
            };
            let Pending {
                purpose,
                stale_retries,
                ..
            } = self.pending.swap_remove(at);
            match event {
                stun::ClientEvent::Success { response, .. } => {
                    self.on_success(now, purpose, &response)
                }
                stun::ClientEvent::ErrorResponse {
                    code,
                    reason,
                    response,
                    ..
                } => self.on_error(now, purpose, stale_retries, code, reason, &response),
                stun::ClientEvent::Timeout { .. } => {
                    self.fail_request(now, purpose, TurnError::Timeout)
                }
                stun::ClientEvent::Failed { .. } => {
                    self.fail_request(now, purpose, TurnError::Malformed)
                }
            }
        }
    }

    pub(super) fn on_success(&mut self, now: Instant, purpose: Purpose, response: &Message<'_>) {
        match purpose {
            Purpose::Allocate => {
                let relayed: Vec<SocketAddr> = response
                    .attributes()
                    .iter()
                    .filter_map(|a| match a {
                        Attribute::XorRelayedAddress(x) => Some(*x),
                        _ => None,
                    })
                    .collect();
                if relayed.is_empty() {
                    return self.fail(TurnError::Malformed);
                }
                let lifetime = self.granted(now, response);
                self.relayed = relayed.clone();
                self.mapped = response.xor_mapped_address();
                self.state = State::Allocated;
                self.events.push_back(ClientEvent::Allocated {
                    relayed,
                    mapped: self.mapped,
                    lifetime,
                });
                self.drive_peers(now);
            }
            Purpose::Refresh => {
                self.granted(now, response);
                self.stats.refreshes += 1;
            }
            Purpose::Deallocate => {
                self.state = State::Closed;
                self.events.push_back(ClientEvent::Closed);
            }
            Purpose::Permission(i) => {
                self.stats.permissions += 1;
                let p = &mut self.peers[i];
                p.permitted = true;
                p.permission_due = Some(now + PERMISSION_REFRESH);
            }
            Purpose::Bind(i) => {
                self.stats.channel_binds += 1;
                let p = &mut self.peers[i];
                // RFC 8656 §12.2: a ChannelBind also installs or refreshes the permission.
                p.permitted = true;
                p.bind_due = Some(now + CHANNEL_REFRESH);
                if !p.bound {
                    p.bound = true;
                    let (peer, channel) = (p.addr, p.channel);
                    self.events
                        .push_back(ClientEvent::ChannelBound { peer, channel });
                }
            }
        }
    }

    /// Takes the granted LIFETIME and schedules the next Refresh.
    pub(super) fn granted(&mut self, now: Instant, response: &Message<'_>) -> Duration {
        let lifetime = response
            .lifetime()
            .map_or(self.config.lifetime, |s| Duration::from_secs(s.into()))
            .min(NEVER);
        self.expires = Some(now + lifetime);
        let margin = Duration::from_secs(60).min(lifetime / 2);
        self.refresh_due = Some(now + (lifetime - margin));
        lifetime
    }

    pub(super) fn on_error(
        &mut self,
        now: Instant,
        purpose: Purpose,
        stale_retries: u8,
        code: u16,
        reason: String,
        response: &Message<'_>,
    ) {
        match code {
            ErrorCode::UNAUTHENTICATED => {
                // RFC 8656 §7.2 / RFC 8489 §9.2.5: the first 401 gives realm and nonce; a 401
                // to a request that already carried credentials means they are wrong.
                if self.auth.is_some() || purpose != Purpose::Allocate {
                    return self.fail(TurnError::BadCredentials);
                }
                let (Some(realm), Some(nonce)) = (response.realm(), response.nonce()) else {
                    return self.fail(TurnError::Malformed);
                };
                let offered = response.attributes().iter().find_map(|a| match a {
                    Attribute::PasswordAlgorithms(p) => Some(p.clone()),
                    _ => None,
                });
                let algorithms = match offered {
                    None => None,
                    Some(offered) => {
                        let has = |x| offered.iter().any(|(a, _)| a == x);
                        let chosen = if has(PasswordAlgorithm::Sha256) {
                            PasswordAlgorithm::Sha256
                        } else if has(PasswordAlgorithm::Md5) {
                            PasswordAlgorithm::Md5
                        } else {
                            return self.fail(TurnError::UnsupportedAlgorithm);
                        };
                        Some((chosen, Attribute::PasswordAlgorithms(offered).into_owned()))
                    }
                };
                let algorithm = algorithms.as_ref().map_or(PasswordAlgorithm::Md5, |a| a.0);
                let Some(key) = Key::long_term_with(
                    algorithm,
                    &self.config.username,
                    realm,
                    &self.config.password,
                ) else {
                    return self.fail(TurnError::UnsupportedAlgorithm);
                };
                self.auth = Some(Auth {
                    realm: realm.into(),
                    nonce: nonce.into(),
                    key,
                    algorithms,
                });
                self.send_request(now, purpose, stale_retries);
            }
            ErrorCode::STALE_NONCE if stale_retries < MAX_STALE_RETRIES => {
                // RFC 8489 §9.2.5: retry with the NONCE (and REALM) of the 438 response.
                self.stats.stale_nonces += 1;
                if let (Some(auth), Some(nonce)) = (&mut self.auth, response.nonce()) {
                    auth.nonce = nonce.into();
                    if let Some(realm) = response.realm()
                        && realm != auth.realm
                    {
                        return self.fail(TurnError::BadCredentials);
                    }
                }
                self.send_request(now, purpose, stale_retries + 1);
            }
            ErrorCode::TRY_ALTERNATE if purpose == Purpose::Allocate => {
                // RFC 8656 §7.4 (RFC 8489 §10): retry on ALTERNATE-SERVER; followed once.
                match response.alternate_server() {
                    Some(alt) if !self.redirected && alt.is_ipv4() == self.server.is_ipv4() => {
                        self.redirected = true;
                        self.server = alt;
                        self.auth = None;
                        self.events
                            .push_back(ClientEvent::Redirected { server: alt });
                        self.send_request(now, Purpose::Allocate, 0);
                    }
                    _ => self.fail(TurnError::TooManyRedirects),
                }
            }
            // RFC 8656 §7.3: 437 to a deallocation means it is already gone.
            437 if purpose == Purpose::Deallocate => {
                self.state = State::Closed;
                self.events.push_back(ClientEvent::Closed);
            }
            _ => self.fail_request(now, purpose, TurnError::Refused { code, reason }),
        }
    }
}
