//! The server's requests on allocations: Allocate (RFC 8656 §7.2), Refresh (§7.3),
//! CreatePermission (§9) and ChannelBind (§12.2).

use super::*;

impl Server {
    pub(super) fn allocate(
        &mut self,
        now: Instant,
        d: &Datagram<'_>,
        req: &Message<'_>,
        slot: Option<usize>,
        username: &str,
        key: &Key,
    ) -> Result<(), Refusal> {
        if let Some(s) = slot {
            // RFC 8656 §7.2: a retransmitted Allocate gets the same success; another gets 437.
            let a = self.allocations[s]
                .as_ref()
                .ok_or(refuse(500, "Server Error"))?;
            if a.transaction != req.transaction_id() {
                return Err(refuse(437, "Allocation Mismatch"));
            }
            let (relayed, expires) = (a.relayed.clone(), a.expires);
            self.allocate_success(
                d,
                req,
                &relayed,
                expires.saturating_duration_since(now),
                key,
            );
            return Ok(());
        }
        // RFC 8656 §7.2: REQUESTED-TRANSPORT is required (400) and must be UDP (442).
        match req.get(crate::stun::attr_type::REQUESTED_TRANSPORT) {
            Some(Attribute::RequestedTransport(UDP)) => {}
            Some(_) => return Err(refuse(442, "Unsupported Transport Protocol")),
            None => return Err(refuse(ErrorCode::BAD_REQUEST, "Bad Request")),
        }
        if req.get(crate::stun::attr_type::RESERVATION_TOKEN).is_some() {
            // Reservations (EVEN-PORT with R) are not kept; a token can name nothing.
            return Err(refuse(508, "Insufficient Capacity"));
        }
        let requested = match req.get(crate::stun::attr_type::REQUESTED_ADDRESS_FAMILY) {
            None => None,
            Some(Attribute::RequestedAddressFamily(AddressFamily::V4)) => Some(false),
            Some(Attribute::RequestedAddressFamily(AddressFamily::V6)) => Some(true),
            Some(_) => return Err(refuse(440, "Address Family not Supported")),
        };
        let additional = match req.get(ADDITIONAL_ADDRESS_FAMILY) {
            None => false,
            // RFC 8656 §7.2: ADDITIONAL-ADDRESS-FAMILY must name IPv6, and cannot come with
            // REQUESTED-ADDRESS-FAMILY (400 either way).
            Some(Attribute::Unknown { value, .. })
                if requested.is_none() && value.first() == Some(&0x02) =>
            {
                true
            }
            Some(_) => return Err(refuse(ErrorCode::BAD_REQUEST, "Bad Request")),
        };
        // Quotas: RFC 8656 §7.2, 486 per user, 508 when the server is full.
        if self.per_user.get(username).copied().unwrap_or(0) >= self.config.max_allocations_per_user
        {
            return Err(refuse(486, "Allocation Quota Reached"));
        }
        if self.live >= self.config.max_allocations {
            return Err(refuse(508, "Insufficient Capacity"));
        }
        let want_v6 = requested.unwrap_or(false);
        let pool_empty = if want_v6 {
            self.free_v6.is_empty()
        } else {
            self.free_v4.is_empty()
        };
        if pool_empty {
            return Err(
                if want_v6 && self.config.relays.iter().all(|r| r.is_ipv4()) {
                    refuse(440, "Address Family not Supported")
                } else {
                    refuse(508, "Insufficient Capacity")
                },
            );
        }
        let mut relayed = SmallVec::new();
        relayed.extend(if want_v6 {
            self.free_v6.pop()
        } else {
            self.free_v4.pop()
        });
        // A dual allocation that cannot get IPv6 still gets IPv4 (RFC 8656 §7.2 reports the
        // missing family in ADDRESS-ERROR-CODE; we leave the attribute out).
        if additional && let Some(v6) = self.free_v6.pop() {
            relayed.push(v6);
        }
        let lifetime = self.lifetime(req);
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.allocations.push(None);
            self.allocations.len() - 1
        });
        let expires = now + lifetime;
        for r in &relayed {
            self.by_relay.insert(*r, slot);
        }
        let client_key = self.key(d);
        self.by_client.insert(client_key, slot);
        *self.per_user.entry(username.into()).or_insert(0) += 1;
        self.allocations[slot] = Some(Allocation {
            client: d.source,
            listen: d.destination,
            via: self.via,
            relayed: relayed.clone(),
            username: username.into(),
            transaction: req.transaction_id(),
            expires,
            permissions: SmallVec::new(),
            channels: SmallVec::new(),
        });
        self.live += 1;
        self.stats.allocations += 1;
        self.expiries.push(Reverse((expires, slot)));
        self.allocate_success(d, req, &relayed, lifetime, key);
        self.push_event(ServerEvent::Allocated {
            client: d.source,
            username: username.into(),
            relayed: relayed.to_vec(),
        });
        Ok(())
    }

    pub(super) fn allocate_success(
        &mut self,
        d: &Datagram<'_>,
        req: &Message<'_>,
        relayed: &[SocketAddr],
        lifetime: Duration,
        key: &Key,
    ) {
        let mut msg = Message::new(
            Class::SuccessResponse,
            Method::Allocate,
            req.transaction_id(),
        );
        for r in relayed {
            msg.add(Attribute::XorRelayedAddress(*r));
        }
        msg.add(Attribute::Lifetime(secs(lifetime)));
        msg.add(Attribute::XorMappedAddress(d.source));
        self.success(d, msg, key);
    }

    pub(super) fn success(&mut self, d: &Datagram<'_>, mut msg: Message<'_>, key: &Key) {
        if let Some(s) = &self.config.software {
            msg.add(Attribute::Software(Cow::Owned(s.clone())));
        }
        if !self
            .replies()
            .push_message(d.destination, d.source, &msg, Some(key))
        {
            self.stats.dropped += 1;
        }
    }

    /// The lifetime to grant: RFC 8656 §7.2, the requested one capped at the maximum, the
    /// default 600 s when absent, and never below the default.
    pub(super) fn lifetime(&self, req: &Message<'_>) -> Duration {
        let default = Duration::from_secs(600).min(self.config.max_lifetime);
        req.lifetime()
            .map_or(default, |s| Duration::from_secs(s.into()))
            .clamp(default, self.config.max_lifetime.max(default))
    }

    pub(super) fn refresh(
        &mut self,
        now: Instant,
        d: &Datagram<'_>,
        req: &Message<'_>,
        slot: Option<usize>,
        key: &Key,
    ) -> Result<(), Refusal> {
        let s = slot.ok_or(refuse(437, "Allocation Mismatch"))?;
        let lifetime = if req.lifetime() == Some(0) {
            // RFC 8656 §7.3: a LIFETIME of 0 deletes the allocation at once.
            self.release(s, false);
            Duration::ZERO
        } else {
            let lifetime = self.lifetime(req);
            let a = self.allocations[s]
                .as_mut()
                .ok_or(refuse(437, "Allocation Mismatch"))?;
            a.expires = now + lifetime;
            self.expiries.push(Reverse((now + lifetime, s)));
            lifetime
        };
        let msg = Message::new(
            Class::SuccessResponse,
            Method::Refresh,
            req.transaction_id(),
        )
        .with(Attribute::Lifetime(secs(lifetime)));
        self.success(d, msg, key);
        self.compact_timers();
        Ok(())
    }

    /// Installs or refreshes permissions for the peers' IPs, all or none.
    pub(super) fn install_permissions(
        &mut self,
        now: Instant,
        s: usize,
        peers: &[SocketAddr],
    ) -> Result<(), Refusal> {
        let max = self.config.max_peers;
        let a = self.allocations[s]
            .as_mut()
            .ok_or(refuse(437, "Allocation Mismatch"))?;
        // RFC 8656 §9.2: a peer address family must match a relayed address (443).
        if peers.iter().any(|p| a.relayed_for(*p).is_none()) {
            return Err(refuse(443, "Peer Address Family Mismatch"));
        }
        a.permissions.retain(|(_, t)| *t > now);
        let new = peers
            .iter()
            .filter(|p| !a.permissions.iter().any(|(ip, _)| *ip == p.ip()))
            .count();
        if a.permissions.len() + new > max {
            return Err(refuse(508, "Insufficient Capacity"));
        }
        for p in peers {
            let until = now + PERMISSION_LIFETIME;
            match a.permissions.iter_mut().find(|(ip, _)| *ip == p.ip()) {
                Some(e) => e.1 = until,
                None => a.permissions.push((p.ip(), until)),
            }
        }
        Ok(())
    }

    pub(super) fn create_permission(
        &mut self,
        now: Instant,
        d: &Datagram<'_>,
        req: &Message<'_>,
        slot: Option<usize>,
        key: &Key,
    ) -> Result<(), Refusal> {
        let s = slot.ok_or(refuse(437, "Allocation Mismatch"))?;
        let peers: SmallVec<[SocketAddr; 4]> = req.xor_peer_addresses().collect();
        if peers.is_empty() {
            return Err(refuse(ErrorCode::BAD_REQUEST, "Bad Request"));
        }
        self.install_permissions(now, s, &peers)?;
        let msg = Message::new(
            Class::SuccessResponse,
            Method::CreatePermission,
            req.transaction_id(),
        );
        self.success(d, msg, key);
        Ok(())
    }

    pub(super) fn channel_bind(
        &mut self,
        now: Instant,
        d: &Datagram<'_>,
        req: &Message<'_>,
        slot: Option<usize>,
        key: &Key,
    ) -> Result<(), Refusal> {
        let s = slot.ok_or(refuse(437, "Allocation Mismatch"))?;
        let bad = || refuse(ErrorCode::BAD_REQUEST, "Bad Request");
        // RFC 8656 §12.2: CHANNEL-NUMBER in 0x4000..=0x4FFF and XOR-PEER-ADDRESS, else 400;
        // RFC 5766 clients still use up to 0x7FFF, which is accepted (MAX_RFC5766_CHANNEL).
        let channel = req
            .channel_number()
            .filter(|c| channel_data::is_rfc5766_channel(*c));
        let (Some(channel), Some(peer)) = (channel, req.xor_peer_addresses().next()) else {
            return Err(bad());
        };
        let max = self.config.max_peers;
        {
            let a = self.allocations[s]
                .as_mut()
                .ok_or(refuse(437, "Allocation Mismatch"))?;
            if a.relayed_for(peer).is_none() {
                return Err(refuse(443, "Peer Address Family Mismatch"));
            }
            a.channels.retain(|(_, _, t)| *t > now);
            // RFC 8656 §12.2: a channel bound to another peer, or a peer bound to another
            // channel, is refused with 400.
            let conflict = a
                .channels
                .iter()
                .any(|&(c, p, _)| (c == channel) != (p == peer));
            if conflict {
                return Err(bad());
            }
            let until = now + CHANNEL_LIFETIME;
            match a.channels.iter().position(|(c, _, _)| *c == channel) {
                Some(i) => a.channels[i].2 = until,
                None if a.channels.len() >= max => {
                    return Err(refuse(508, "Insufficient Capacity"));
                }
                None => a.channels.push((channel, peer, until)),
            }
        }
        // RFC 8656 §12.2: binding also installs or refreshes the permission.
        self.install_permissions(now, s, &[peer])?;
        let msg = Message::new(
            Class::SuccessResponse,
            Method::ChannelBind,
            req.transaction_id(),
        );
        self.success(d, msg, key);
        Ok(())
    }
}
