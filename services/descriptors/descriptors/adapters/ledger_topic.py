"""Reading the ledger's recorded transactions back from `ledger.transactions`, for replay."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from registry_contracts.envelope import EventEnvelope
from registry_contracts.events.ledger import TransactionRecorded


async def recorded_transactions(bootstrap: str, topic: str) -> list[EventEnvelope]:
    """Every TransactionRecorded on every partition of `topic`, up to its current end, once per
    transaction (the relay, or a replay of the ledger, may publish one again), in ledger order:
    by recorded instant, then transaction id, as the marker sequencer decides them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        if topic not in await consumer.topics():  # also loads the metadata partitions_for_topic reads
            return []
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: dict[str, tuple[TransactionRecorded, EventEnvelope]] = {}
        for partition in partitions:
            while await consumer.position(partition) < ends[partition]:
                batch = await consumer.getmany(partition, timeout_ms=1000)
                for record in batch.get(partition, []):
                    envelope = EventEnvelope.from_bytes(record.value)
                    if envelope.type == "ledger.TransactionRecorded":
                        event = TransactionRecorded.model_validate(envelope.payload)
                        found.setdefault(event.transaction_id, (event, envelope))
        ordered = sorted(found.values(), key=lambda item: (item[0].recorded_at, item[0].transaction_id))
        return [envelope for _, envelope in ordered]
    finally:
        await consumer.stop()
