from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScoreRequest(_message.Message):
    __slots__ = ("applicant",)
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    applicant: _struct_pb2.Struct
    def __init__(self, applicant: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Reason(_message.Message):
    __slots__ = ("feature", "value", "contribution", "text")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    feature: str
    value: str
    contribution: float
    text: str
    def __init__(self, feature: _Optional[str] = ..., value: _Optional[str] = ..., contribution: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("probability_of_default", "grade", "reasons", "model_version", "request_id", "cached")
    PROBABILITY_OF_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    probability_of_default: float
    grade: str
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    model_version: str
    request_id: str
    cached: bool
    def __init__(self, probability_of_default: _Optional[float] = ..., grade: _Optional[str] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ..., cached: _Optional[bool] = ...) -> None: ...

class ScoreBatchRequest(_message.Message):
    __slots__ = ("applicants",)
    APPLICANTS_FIELD_NUMBER: _ClassVar[int]
    applicants: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    def __init__(self, applicants: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ...) -> None: ...

class ScoreBatchResponse(_message.Message):
    __slots__ = ("results", "model_version", "request_id")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ScoreResponse]
    model_version: str
    request_id: str
    def __init__(self, results: _Optional[_Iterable[_Union[ScoreResponse, _Mapping]]] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class FraudLinks(_message.Message):
    __slots__ = ("device", "phone", "ip")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    device: _containers.RepeatedScalarFieldContainer[str]
    phone: _containers.RepeatedScalarFieldContainer[str]
    ip: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, device: _Optional[_Iterable[str]] = ..., phone: _Optional[_Iterable[str]] = ..., ip: _Optional[_Iterable[str]] = ...) -> None: ...

class FraudScoreRequest(_message.Message):
    __slots__ = ("application_id", "features", "links", "persist")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    PERSIST_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    features: _containers.ScalarMap[str, float]
    links: FraudLinks
    persist: bool
    def __init__(self, application_id: _Optional[str] = ..., features: _Optional[_Mapping[str, float]] = ..., links: _Optional[_Union[FraudLinks, _Mapping]] = ..., persist: _Optional[bool] = ...) -> None: ...

class LinkCounts(_message.Message):
    __slots__ = ("device", "phone", "ip")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    device: _containers.RepeatedScalarFieldContainer[int]
    phone: _containers.RepeatedScalarFieldContainer[int]
    ip: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, device: _Optional[_Iterable[int]] = ..., phone: _Optional[_Iterable[int]] = ..., ip: _Optional[_Iterable[int]] = ...) -> None: ...

class FraudEvidence(_message.Message):
    __slots__ = ("shared", "neighbours", "known_fraud_neighbours", "suspicious_neighbours")
    SHARED_FIELD_NUMBER: _ClassVar[int]
    NEIGHBOURS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FRAUD_NEIGHBOURS_FIELD_NUMBER: _ClassVar[int]
    SUSPICIOUS_NEIGHBOURS_FIELD_NUMBER: _ClassVar[int]
    shared: LinkCounts
    neighbours: int
    known_fraud_neighbours: int
    suspicious_neighbours: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, shared: _Optional[_Union[LinkCounts, _Mapping]] = ..., neighbours: _Optional[int] = ..., known_fraud_neighbours: _Optional[int] = ..., suspicious_neighbours: _Optional[_Iterable[str]] = ...) -> None: ...

class FraudScoreResponse(_message.Message):
    __slots__ = ("fraud_probability", "basis", "evidence", "persisted", "model_version", "request_id")
    FRAUD_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    PERSISTED_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    fraud_probability: float
    basis: str
    evidence: FraudEvidence
    persisted: bool
    model_version: str
    request_id: str
    def __init__(self, fraud_probability: _Optional[float] = ..., basis: _Optional[str] = ..., evidence: _Optional[_Union[FraudEvidence, _Mapping]] = ..., persisted: _Optional[bool] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class IntentRequest(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class IntentBatchRequest(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class IntentSlots(_message.Message):
    __slots__ = ("amount", "term_months")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TERM_MONTHS_FIELD_NUMBER: _ClassVar[int]
    amount: int
    term_months: int
    def __init__(self, amount: _Optional[int] = ..., term_months: _Optional[int] = ...) -> None: ...

class IntentResponse(_message.Message):
    __slots__ = ("intent", "confidence", "slots", "needs_human", "model_version", "request_id", "cached")
    INTENT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    NEEDS_HUMAN_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    intent: str
    confidence: float
    slots: IntentSlots
    needs_human: bool
    model_version: str
    request_id: str
    cached: bool
    def __init__(self, intent: _Optional[str] = ..., confidence: _Optional[float] = ..., slots: _Optional[_Union[IntentSlots, _Mapping]] = ..., needs_human: _Optional[bool] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ..., cached: _Optional[bool] = ...) -> None: ...

class IntentBatchResponse(_message.Message):
    __slots__ = ("results", "model_version", "request_id")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IntentResponse]
    model_version: str
    request_id: str
    def __init__(self, results: _Optional[_Iterable[_Union[IntentResponse, _Mapping]]] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ImageRequest(_message.Message):
    __slots__ = ("image", "kind")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    kind: str
    def __init__(self, image: _Optional[bytes] = ..., kind: _Optional[str] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class DocumentLine(_message.Message):
    __slots__ = ("text", "confidence", "box")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    text: str
    confidence: float
    box: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, text: _Optional[str] = ..., confidence: _Optional[float] = ..., box: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class DocumentField(_message.Message):
    __slots__ = ("value", "valid", "confidence", "box")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    value: str
    valid: bool
    confidence: float
    box: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, value: _Optional[str] = ..., valid: _Optional[bool] = ..., confidence: _Optional[float] = ..., box: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class DocumentResponse(_message.Message):
    __slots__ = ("lines", "fields", "model_version", "request_id", "kind", "kind_confidence", "sent_kind", "findings")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: DocumentField
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[DocumentField, _Mapping]] = ...) -> None: ...
    LINES_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    KIND_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SENT_KIND_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[DocumentLine]
    fields: _containers.MessageMap[str, DocumentField]
    model_version: str
    request_id: str
    kind: str
    kind_confidence: float
    sent_kind: str
    findings: _containers.RepeatedCompositeFieldContainer[PageFinding]
    def __init__(self, lines: _Optional[_Iterable[_Union[DocumentLine, _Mapping]]] = ..., fields: _Optional[_Mapping[str, DocumentField]] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ..., kind: _Optional[str] = ..., kind_confidence: _Optional[float] = ..., sent_kind: _Optional[str] = ..., findings: _Optional[_Iterable[_Union[PageFinding, _Mapping]]] = ...) -> None: ...

class PageFinding(_message.Message):
    __slots__ = ("code", "text")
    CODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    code: str
    text: str
    def __init__(self, code: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class DamageResponse(_message.Message):
    __slots__ = ("damage_type", "severity", "probabilities", "severity_probabilities", "model_version", "request_id")
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class SeverityProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DAMAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    damage_type: str
    severity: str
    probabilities: _containers.ScalarMap[str, float]
    severity_probabilities: _containers.ScalarMap[str, float]
    model_version: str
    request_id: str
    def __init__(self, damage_type: _Optional[str] = ..., severity: _Optional[str] = ..., probabilities: _Optional[_Mapping[str, float]] = ..., severity_probabilities: _Optional[_Mapping[str, float]] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ApplicationFraud(_message.Message):
    __slots__ = ("features", "links", "persist")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    PERSIST_FIELD_NUMBER: _ClassVar[int]
    features: _containers.ScalarMap[str, float]
    links: FraudLinks
    persist: bool
    def __init__(self, features: _Optional[_Mapping[str, float]] = ..., links: _Optional[_Union[FraudLinks, _Mapping]] = ..., persist: _Optional[bool] = ...) -> None: ...

class Declared(_message.Message):
    __slots__ = ("id_number", "vin", "plate", "amount", "term_months", "name", "monthly_income", "vehicle_price")
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VIN_FIELD_NUMBER: _ClassVar[int]
    PLATE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TERM_MONTHS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_INCOME_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_PRICE_FIELD_NUMBER: _ClassVar[int]
    id_number: str
    vin: str
    plate: str
    amount: float
    term_months: int
    name: str
    monthly_income: float
    vehicle_price: float
    def __init__(self, id_number: _Optional[str] = ..., vin: _Optional[str] = ..., plate: _Optional[str] = ..., amount: _Optional[float] = ..., term_months: _Optional[int] = ..., name: _Optional[str] = ..., monthly_income: _Optional[float] = ..., vehicle_price: _Optional[float] = ...) -> None: ...

class ApplicationDocument(_message.Message):
    __slots__ = ("kind", "image")
    KIND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    image: bytes
    def __init__(self, kind: _Optional[str] = ..., image: _Optional[bytes] = ...) -> None: ...

class LoanApplicationRequest(_message.Message):
    __slots__ = ("application_id", "applicant", "fraud", "declared", "documents", "vehicle_photos", "message", "loan_id")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    FRAUD_FIELD_NUMBER: _ClassVar[int]
    DECLARED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_PHOTOS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LOAN_ID_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    applicant: _struct_pb2.Struct
    fraud: ApplicationFraud
    declared: Declared
    documents: _containers.RepeatedCompositeFieldContainer[ApplicationDocument]
    vehicle_photos: _containers.RepeatedScalarFieldContainer[bytes]
    message: str
    loan_id: str
    def __init__(self, application_id: _Optional[str] = ..., applicant: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., fraud: _Optional[_Union[ApplicationFraud, _Mapping]] = ..., declared: _Optional[_Union[Declared, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[ApplicationDocument, _Mapping]]] = ..., vehicle_photos: _Optional[_Iterable[bytes]] = ..., message: _Optional[str] = ..., loan_id: _Optional[str] = ...) -> None: ...

class DecisionReason(_message.Message):
    __slots__ = ("code", "text", "source")
    CODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    code: str
    text: str
    source: str
    def __init__(self, code: _Optional[str] = ..., text: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class LoanApplicationResponse(_message.Message):
    __slots__ = ("decision", "reasons", "risk", "fraud", "documents", "damage", "intent", "branches", "degraded", "model_versions", "policy_version", "branch_ms", "model_version", "request_id")
    class BranchesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ModelVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class BranchMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    FRAUD_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    DAMAGE_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    BRANCHES_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    BRANCH_MS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    decision: str
    reasons: _containers.RepeatedCompositeFieldContainer[DecisionReason]
    risk: ScoreResponse
    fraud: FraudScoreResponse
    documents: _containers.RepeatedCompositeFieldContainer[DocumentResponse]
    damage: _containers.RepeatedCompositeFieldContainer[DamageResponse]
    intent: IntentResponse
    branches: _containers.ScalarMap[str, str]
    degraded: bool
    model_versions: _containers.ScalarMap[str, str]
    policy_version: str
    branch_ms: _containers.ScalarMap[str, float]
    model_version: str
    request_id: str
    def __init__(self, decision: _Optional[str] = ..., reasons: _Optional[_Iterable[_Union[DecisionReason, _Mapping]]] = ..., risk: _Optional[_Union[ScoreResponse, _Mapping]] = ..., fraud: _Optional[_Union[FraudScoreResponse, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[DocumentResponse, _Mapping]]] = ..., damage: _Optional[_Iterable[_Union[DamageResponse, _Mapping]]] = ..., intent: _Optional[_Union[IntentResponse, _Mapping]] = ..., branches: _Optional[_Mapping[str, str]] = ..., degraded: _Optional[bool] = ..., model_versions: _Optional[_Mapping[str, str]] = ..., policy_version: _Optional[str] = ..., branch_ms: _Optional[_Mapping[str, float]] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class LoanOrigination(_message.Message):
    __slots__ = ("limit", "age", "education")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    EDUCATION_FIELD_NUMBER: _ClassVar[int]
    limit: float
    age: int
    education: int
    def __init__(self, limit: _Optional[float] = ..., age: _Optional[int] = ..., education: _Optional[int] = ...) -> None: ...

class LoanStatement(_message.Message):
    __slots__ = ("period", "balance", "paid", "status")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    PAID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    period: str
    balance: float
    paid: float
    status: int
    def __init__(self, period: _Optional[str] = ..., balance: _Optional[float] = ..., paid: _Optional[float] = ..., status: _Optional[int] = ...) -> None: ...

class LoanScoreRequest(_message.Message):
    __slots__ = ("origination", "statements")
    ORIGINATION_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    origination: LoanOrigination
    statements: _containers.RepeatedCompositeFieldContainer[LoanStatement]
    def __init__(self, origination: _Optional[_Union[LoanOrigination, _Mapping]] = ..., statements: _Optional[_Iterable[_Union[LoanStatement, _Mapping]]] = ...) -> None: ...

class LoanScoreResponse(_message.Message):
    __slots__ = ("probability_of_default", "reasons", "model_version", "request_id", "cached")
    PROBABILITY_OF_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    probability_of_default: float
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    model_version: str
    request_id: str
    cached: bool
    def __init__(self, probability_of_default: _Optional[float] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ..., cached: _Optional[bool] = ...) -> None: ...

class LoanScoreBatchRequest(_message.Message):
    __slots__ = ("loans",)
    LOANS_FIELD_NUMBER: _ClassVar[int]
    loans: _containers.RepeatedCompositeFieldContainer[LoanScoreRequest]
    def __init__(self, loans: _Optional[_Iterable[_Union[LoanScoreRequest, _Mapping]]] = ...) -> None: ...

class LoanScoreBatchResponse(_message.Message):
    __slots__ = ("results", "model_version", "request_id")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[LoanScoreResponse]
    model_version: str
    request_id: str
    def __init__(self, results: _Optional[_Iterable[_Union[LoanScoreResponse, _Mapping]]] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class OpenLoanRequest(_message.Message):
    __slots__ = ("loan_id", "origination", "application_id")
    LOAN_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINATION_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    loan_id: str
    origination: LoanOrigination
    application_id: str
    def __init__(self, loan_id: _Optional[str] = ..., origination: _Optional[_Union[LoanOrigination, _Mapping]] = ..., application_id: _Optional[str] = ...) -> None: ...

class OpenLoanResponse(_message.Message):
    __slots__ = ("loan_id", "opened_at", "created")
    LOAN_ID_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    loan_id: str
    opened_at: str
    created: bool
    def __init__(self, loan_id: _Optional[str] = ..., opened_at: _Optional[str] = ..., created: _Optional[bool] = ...) -> None: ...

class StatementRequest(_message.Message):
    __slots__ = ("loan_id", "statement_id", "statement", "message_intent")
    LOAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_INTENT_FIELD_NUMBER: _ClassVar[int]
    loan_id: str
    statement_id: str
    statement: LoanStatement
    message_intent: str
    def __init__(self, loan_id: _Optional[str] = ..., statement_id: _Optional[str] = ..., statement: _Optional[_Union[LoanStatement, _Mapping]] = ..., message_intent: _Optional[str] = ...) -> None: ...

class Treatment(_message.Message):
    __slots__ = ("action", "band", "reason")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    action: str
    band: str
    reason: str
    def __init__(self, action: _Optional[str] = ..., band: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class LoanUpdate(_message.Message):
    __slots__ = ("loan_id", "statement_id", "period", "probability_of_default", "change", "reasons", "treatment", "model_version", "request_id", "repeated", "out_of_order", "error")
    LOAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_OF_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REPEATED_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_ORDER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    loan_id: str
    statement_id: str
    period: str
    probability_of_default: float
    change: float
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    treatment: Treatment
    model_version: str
    request_id: str
    repeated: bool
    out_of_order: bool
    error: StreamError
    def __init__(self, loan_id: _Optional[str] = ..., statement_id: _Optional[str] = ..., period: _Optional[str] = ..., probability_of_default: _Optional[float] = ..., change: _Optional[float] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., treatment: _Optional[_Union[Treatment, _Mapping]] = ..., model_version: _Optional[str] = ..., request_id: _Optional[str] = ..., repeated: _Optional[bool] = ..., out_of_order: _Optional[bool] = ..., error: _Optional[_Union[StreamError, _Mapping]] = ...) -> None: ...

class StreamError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class GetApplicationRequest(_message.Message):
    __slots__ = ("application_id",)
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    def __init__(self, application_id: _Optional[str] = ...) -> None: ...

class TrailStep(_message.Message):
    __slots__ = ("seq", "kind", "at", "by", "what")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    WHAT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    kind: str
    at: str
    by: str
    what: str
    def __init__(self, seq: _Optional[int] = ..., kind: _Optional[str] = ..., at: _Optional[str] = ..., by: _Optional[str] = ..., what: _Optional[str] = ...) -> None: ...

class ApplicationRecord(_message.Message):
    __slots__ = ("application_id", "final_decision", "decision", "case", "trail", "loan")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    FINAL_DECISION_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    CASE_FIELD_NUMBER: _ClassVar[int]
    TRAIL_FIELD_NUMBER: _ClassVar[int]
    LOAN_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    final_decision: str
    decision: _struct_pb2.Struct
    case: _struct_pb2.Struct
    trail: _containers.RepeatedCompositeFieldContainer[TrailStep]
    loan: _struct_pb2.Struct
    def __init__(self, application_id: _Optional[str] = ..., final_decision: _Optional[str] = ..., decision: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., case: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., trail: _Optional[_Iterable[_Union[TrailStep, _Mapping]]] = ..., loan: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
