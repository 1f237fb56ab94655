use super::*;

#[test]
fn alert_is_two_bytes_in_clear() {
    assert_eq!(
        Alert::parse(&[2, 70]),
        Ok(Alert {
            level: 2,
            description: 70
        })
    );
    assert!(Alert::parse(&[2, 70, 0]).is_err());
}
